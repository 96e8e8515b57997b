import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { execute, getVariableValues, GraphQLError, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { LRUCache } from 'lru-cache';

/**
 * Compiled operations kept at most. Each is a generated function of a few kilobytes; the bound
 * keeps a client sending endless distinct documents from growing memory with them.
 */
const MAX_COMPILED = 500;
/** A document runs this many times on graphql-js before it is compiled. */
const RUNS_BEFORE_COMPILING = 1;

type Entry = { runs: number; compiled?: CompiledQuery | ExecutionResult };

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
 * A document's first run uses graphql-js: compiling costs about a millisecond (25 ms for the
 * introspection query), which a query sent once — a console's introspection, an ad-hoc
 * question — would only pay for. From its second run it is compiled and kept (per query text
 * and operation name, the least recently used dropped past MAX_COMPILED).
 */
export function compiledExecutorGateway(schema: GraphQLSchema): GatewayInterface {
  const entries = new LRUCache<string, Entry>({ max: MAX_COMPILED });

  const executor: GatewayExecutor = async (rc) => {
    // The name the client asked for: rc.operationName is the one found (null when none was).
    const operationName = rc.request.operationName ?? undefined;
    const key = `${rc.queryHash}\u0000${operationName ?? ''}`;
    let entry = entries.get(key);
    if (!entry) entries.set(key, (entry = { runs: 0 }));
    if (!entry.compiled && entry.runs < RUNS_BEFORE_COMPILING) {
      entry.runs++;
      return execute({ schema, document: rc.document, contextValue: rc.context, variableValues: rc.request.variables, operationName });
    }
    entry.compiled ??= compileQuery(schema, rc.document, operationName, { disablingCapturingStackErrors: true });
    const c = entry.compiled;
    if (!isCompiledQuery(c)) return c;
    // Variables are checked by graphql-js first, as its execute() would: its errors name the
    // variable on its definition node, which Apollo turns into BAD_USER_INPUT (graphql-jit's own
    // carry no node and other wording). graphql-jit then coerces the same raw values again.
    const variables = getVariableValues(schema, rc.operation.variableDefinitions ?? [], rc.request.variables ?? {}, { maxErrors: 50 });
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
