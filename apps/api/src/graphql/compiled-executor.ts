import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { BREAK, execute, getVariableValues, GraphQLError, Kind, visit, type DocumentNode, type ExecutionResult, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { LRUCache } from 'lru-cache';

/**
 * Operations remembered at most (compiled or judged not compilable). A compiled one is a
 * generated function of a few kilobytes; the bound keeps a client sending endless distinct
 * documents from growing memory with them.
 */
const MAX_COMPILED = 500;
/** A plain query runs this many times on graphql-js before it is compiled. */
const RUNS_BEFORE_COMPILING = 1;

type Entry = { runs: number; compilable: boolean; compiled?: CompiledQuery | ExecutionResult };

/** A response key or variable name graphql-jit handles like graphql-js (see compilableOperation). */
const PLAIN_NAME = /^[A-Za-z][A-Za-z0-9]*$/;
/**
 * Deepest selection compiled. graphql-jit writes each field's response path into the generated
 * code, so code grows with the square of the depth: at depth 1,000 it compiled for 1.3 s and
 * kept 40–80 MB. Typed documents nest 4 levels at most.
 */
const MAX_COMPILED_DEPTH = 12;
/** Largest document compiled (characters): typed documents are well under 2 KB. */
const MAX_COMPILED_SOURCE = 8_192;

/**
 * Whether graphql-jit may run this operation: a query made only of fields, plain aliases,
 * variables without defaults, and enum, number, boolean or null literals. Everything else runs
 * on graphql-js, because graphql-jit (0.8.9) gets it wrong or unsafe, each found by review and
 * kept as a case in compiled-executor.int.test.ts:
 * - a string literal is written into the generated code, and one shaped like graphql-jit's
 *   internal date marker (`"__MAGIC_DATE__…"`) becomes code: remote code execution, before any
 *   authorisation. Without string literals, every string in the generated code comes from the
 *   schema or is a GraphQL name (letters, digits, `_`);
 * - mutations: a failed one does not stop the next, which still runs while the answer says
 *   nothing happened;
 * - fragments: spreads are expanded without memo (a 1 KB document compiles for minutes) and
 *   `@skip`/`@include` under a shared fragment leak between selections and operations —
 *   directives are therefore refused too;
 * - variable defaults are re-coerced by its own rules (a non-null one ignored, a Date one
 *   turned into a string);
 * - `__proto__` as an alias or variable name sets a prototype instead of a key, and an alias
 *   holding `_` can give a resolver another field's `info` (names are joined with `_`);
 * - depth: introspection escapes the depth limit (`__schema { types { ofType { ofType … } } }`),
 *   and a deep document blocks the event loop while it compiles and keeps tens of MB once
 *   compiled. Introspection (`__schema`, `__type`) is refused outright — it is no hot path —
 *   as are documents deeper than MAX_COMPILED_DEPTH or longer than MAX_COMPILED_SOURCE.
 * Typed clients' documents (packages/schema/documents) are all of the plain kind.
 */
export function compilableOperation(document: DocumentNode, operation: OperationDefinitionNode | null | undefined): boolean {
  if (!operation || operation.operation !== 'query') return false;
  if ((document.loc?.source.body.length ?? Infinity) > MAX_COMPILED_SOURCE) return false;
  if (operation.variableDefinitions?.some((v) => v.defaultValue !== undefined || !PLAIN_NAME.test(v.variable.name.value))) return false;
  let plain = true;
  let depth = 0;
  visit(document, {
    leave(node) {
      if (node.kind === Kind.SELECTION_SET) depth--;
    },
    enter(node) {
      switch (node.kind) {
        case Kind.SELECTION_SET:
          if (++depth > MAX_COMPILED_DEPTH) {
            plain = false;
            return BREAK;
          }
          return undefined;
        case Kind.STRING:
        case Kind.FRAGMENT_DEFINITION:
        case Kind.FRAGMENT_SPREAD:
        case Kind.INLINE_FRAGMENT:
        case Kind.DIRECTIVE:
          plain = false;
          return BREAK;
        case Kind.FIELD:
          if ((node.alias && !PLAIN_NAME.test(node.alias.value)) || node.name.value === '__schema' || node.name.value === '__type') {
            plain = false;
            return BREAK;
          }
          return undefined;
        default:
          return undefined;
      }
    },
  });
  return plain;
}

/**
 * Runs operations with graphql-jit instead of graphql-js's interpreter
 * (`GRAPHQL_EXECUTOR=compiled`, the default).
 *
 * Why: a 30-day series by channel answers 180 points × 11 fields, and graphql-js spends more
 * per field (argument objects, path records, completeValue dispatch) than the whole database
 * read (docs/benchmarks.md). graphql-jit compiles an operation once into a function that does
 * only the work that operation needs — the same results, ≈ 0.6 ms less API CPU a series.
 *
 * How: Apollo Server 5 has no executor option (apollographql/apollo-server#7981); its gateway
 * interface is the one supported place to hand it an executor. Apollo still parses, validates,
 * runs the plugins, formats errors and sets HTTP status as without it; only execution changes.
 * Subscriptions (graphql-ws) keep graphql-js.
 *
 * Only plain queries are compiled (compilableOperation: what typed clients send); the rest,
 * mutations included, always run on graphql-js. A plain query's first run uses graphql-js too:
 * compiling costs about a millisecond, which a query sent once would only pay for. From its
 * second run it is compiled and kept (per query text and operation name, the least recently
 * used dropped past MAX_COMPILED).
 */
export function compiledExecutorGateway(schema: GraphQLSchema): GatewayInterface {
  const entries = new LRUCache<string, Entry>({ max: MAX_COMPILED });

  const executor: GatewayExecutor = async (rc) => {
    // The name the client asked for: rc.operationName is the one found (null when none was).
    const operationName = rc.request.operationName ?? undefined;
    // Absent when no operation matched (typed as always present); graphql-js reports that.
    const operation = rc.operation as OperationDefinitionNode | undefined;
    const key = `${rc.queryHash}\u0000${operationName ?? ''}`;
    let entry = entries.get(key);
    if (!entry) entries.set(key, (entry = { runs: 0, compilable: compilableOperation(rc.document, operation) }));
    if (!operation || !entry.compilable || (!entry.compiled && entry.runs < RUNS_BEFORE_COMPILING)) {
      entry.runs++;
      return execute({ schema, document: rc.document, contextValue: rc.context, variableValues: rc.request.variables, operationName });
    }
    entry.compiled ??= compileQuery(schema, rc.document, operationName, { disablingCapturingStackErrors: true });
    const c = entry.compiled;
    if (!isCompiledQuery(c)) return c;
    // Variables are checked by graphql-js first, as its execute() would: its errors name the
    // variable on its definition node, which Apollo turns into BAD_USER_INPUT (graphql-jit's own
    // carry no node and other wording). graphql-jit then coerces the same raw values again.
    const variables = getVariableValues(schema, operation.variableDefinitions ?? [], rc.request.variables ?? {}, { maxErrors: 50 });
    if (variables.errors) return { errors: variables.errors };
    const result = await c.query(undefined, rc.context, rc.request.variables ?? {});
    return result.errors ? { ...result, errors: result.errors.map(asGraphQLError) } : result;
  };

  return {
    onSchemaLoadOrUpdate(callback) {
      // The schema is fixed for the life of the process.
      callback({ apiSchema: schema, coreSupergraphSdl: '' });
      return () => {};
    },
    load: async () => ({ executor }),
    stop: async () => {},
  };
}

/**
 * graphql-jit reports a field's error as its own object that only inherits from graphql-js's
 * GraphQLError: its `extensions` is undefined when the thrown error has none (Apollo reads
 * `extensions.code` and would fail), and it cannot be changed. Rebuilt as graphql-js's own,
 * keeping the message, locations, path, the thrown error (which formatError maps) and its
 * extensions — what graphql-js's locatedError gives.
 */
function asGraphQLError(e: GraphQLError): GraphQLError {
  if (Object.getPrototypeOf(e) === GraphQLError.prototype) return e;
  const out = new GraphQLError(e.message, { path: e.path, originalError: e.originalError ?? undefined, extensions: e.extensions ?? undefined });
  // The constructor derives locations only from AST nodes, which graphql-jit does not keep.
  Object.defineProperty(out, 'locations', { value: e.locations, enumerable: e.locations !== undefined, writable: true, configurable: true });
  return out;
}
