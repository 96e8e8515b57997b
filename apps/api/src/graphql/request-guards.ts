import { BREAK, GraphQLError, Kind, visit, type ASTNode, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode } from 'graphql';
import type { ApolloServerPlugin } from '@apollo/server';
import type { Logger } from 'pino';
import { BadInputError } from '../errors/app-errors.js';
import { maskedCause } from '../errors/format-error.js';

const NUL = '\u0000';

/**
 * The path (`input.name`, `events[3].id`) of the first string holding NUL inside `value`, or
 * null. Iterative: a variable nested thousands of levels deep (legal JSON) must not overflow the
 * stack (a RangeError answered as an internal error).
 */
function nulPath(value: unknown, path: string): string | null {
  const stack: [unknown, string][] = [[value, path]];
  while (stack.length > 0) {
    const [v, p] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes(NUL)) return p;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${p}[${i}]`]);
    } else if (v && typeof v === 'object') {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) stack.push([entries[i]![1], `${p}.${entries[i]![0]}`]);
    }
  }
  return null;
}

/**
 * Arguments validated item by item, where a bad item is rejected alone and the rest stored
 * (`ingestPaymentOutcomes(events:)`, like the HTTP ingest): the guard leaves them to it.
 */
const VALIDATED_PER_ITEM = new Set(['ingestPaymentOutcomes.events']);

/**
 * Refuses a request with the NUL character (U+0000) in any string argument or variable, naming
 * it: PostgreSQL text cannot hold it, and the statement's failure would otherwise surface as an
 * internal error. Checked once per operation, not per field.
 */
export function assertNoNul(document: DocumentNode | undefined, variables: Record<string, unknown> | undefined): void {
  if (!document) return;
  let literal: string | null = null;
  const exempt = new Set<string>(); // variables used only by VALIDATED_PER_ITEM arguments
  const used = new Set<string>();
  const fields: string[] = [];
  const args: { name: string; skip: boolean }[] = [];
  // The whole document: the operation and the fragments it spreads.
  visit(document, {
    Field: { enter: (node) => void fields.push(node.name.value), leave: () => void fields.pop() },
    Argument: {
      enter: (node) => void args.push({ name: node.name.value, skip: VALIDATED_PER_ITEM.has(`${fields.at(-1)}.${node.name.value}`) }),
      leave: () => void args.pop(),
    },
    Variable: (node) => {
      if (args.length === 0) return; // the declaration
      (args.some((a) => a.skip) ? exempt : used).add(node.name.value);
    },
    StringValue: (node) => {
      if (!literal && !args.some((a) => a.skip) && node.value.includes(NUL)) literal = args.at(-1)?.name ?? 'query';
    },
  });
  for (const [name, value] of Object.entries(variables ?? {})) {
    if (exempt.has(name) && !used.has(name)) continue;
    const p = nulPath(value, name);
    if (p) throw badInput(p);
  }
  if (literal) throw badInput(literal);
}

/** True when the operation to run selects `__schema` or `__type`, in the fragments it spreads too. */
function usesIntrospection(document: DocumentNode | undefined, operation: OperationDefinitionNode | undefined | null): boolean {
  if (!document || !operation) return false;
  const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
  const pending: ASTNode[] = [operation];
  const spread = new Set<string>();
  let found = false;
  while (pending.length > 0 && !found) {
    visit(pending.pop()!, {
      Field: (node) => {
        if (node.name.value !== '__schema' && node.name.value !== '__type') return undefined;
        found = true;
        return BREAK;
      },
      FragmentSpread: (node) => {
        const f = fragments.get(node.name.value);
        if (f && !spread.has(node.name.value)) {
          spread.add(node.name.value);
          pending.push(f);
        }
      },
    });
  }
  return found;
}

function badInput(field: string): GraphQLError {
  return new GraphQLError(`${field}: must not contain the NUL character (U+0000)`, {
    originalError: new BadInputError(field, 'must not contain the NUL character (U+0000)'),
    extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
  });
}

/**
 * Request guards and the log line of every masked error: a client sees only
 * INTERNAL_SERVER_ERROR, so the cause (with its stack) goes to the log under the request's id.
 */
export function requestGuardsPlugin(logger: Logger, opts: { production: boolean }): ApolloServerPlugin<{ log?: Logger; principal?: unknown }> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, operation, request, contextValue }) {
          if (operation?.operation === 'subscription') {
            throw new GraphQLError('subscriptions are served over WebSocket (graphql-ws protocol) at /graphql, not over HTTP', {
              extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
            });
          }
          // In production the schema is for callers with a token (other teams build their
          // clients from the committed schema.graphql of @tally/schema); anonymous callers
          // would otherwise map every operation, argument and enum of the API.
          if (opts.production && !contextValue?.principal && usesIntrospection(document, operation)) {
            throw new GraphQLError('introspection needs a token: send "Authorization: Bearer <token>"', {
              extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
            });
          }
          assertNoNul(document, request.variables);
        },
        // A field that failed because the database is unreachable answers 503 + Retry-After, as
        // the ingest endpoint and a failed authentication do: clients and proxies retry on the
        // status; a 200 would tell them the answer is final.
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          if (response.body.singleResult.errors?.some((e) => e.extensions?.code === 'SERVICE_UNAVAILABLE')) {
            response.http.status = 503;
            response.http.headers.set('retry-after', '5');
          }
        },
        async didEncounterErrors({ errors, contextValue }) {
          for (const e of errors) {
            const cause = maskedCause(e);
            if (cause) (contextValue?.log ?? logger).error({ err: cause, path: e.path }, 'unexpected error answered as INTERNAL_SERVER_ERROR');
          }
        },
      };
    },
  };
}
