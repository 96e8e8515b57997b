import type { Server } from 'node:http';
import {
  createSourceEventStream,
  execute,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { isConnectionError } from '@tally/db';
import type { Context } from '../context.js';
import { formatError, maskedCause } from '../errors/format-error.js';
import type { Principal } from '../modules/auth/auth.service.js';
import { MAX_OPERATIONS_PER_SOCKET, MAX_REQUEST_BYTES, requestLimitRules } from './request-limits.js';

type BaseContext = Omit<Context, 'loaders' | 'principal' | 'requestId'>;

function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return typeof x === 'object' && x !== null && Symbol.asyncIterator in x;
}

/**
 * One operation of a socket, from its subscribe message until its execution really ends.
 * graphql-ws forgets an operation as soon as the client sends `complete`, while a query keeps
 * executing; and when an id is used again while graphql-ws still finishes its previous
 * operation (a slow reader delays that), graphql-ws's cleanup of the old one forgets the new
 * one, which the client then cannot stop and which outlived the socket (reviewers ran 300
 * ingests at once on one socket and kept streams alive this way). So each socket keeps its own
 * operations: counted here until they end, stopped here on the client's `complete` and when
 * the socket closes, whatever graphql-ws still knows of them.
 */
interface Operation {
  /** Frees its place on the socket (once; a later operation reusing the id is not touched). */
  release(): void;
  /** Stops its stream, once it is a subscription that streams. */
  stop?: () => void;
}

/** The operations of one socket still running, by id. */
type Running = Map<string, Operation>;

/** Each operation by its context value (what execute and subscribe receive). */
const operations = new WeakMap<object, Operation>();
const operationOf = (contextValue: unknown) => (typeof contextValue === 'object' && contextValue !== null ? operations.get(contextValue) : undefined);
const release = (contextValue: unknown) => operationOf(contextValue)?.release();

/** A client's `complete` for an operation graphql-ws may have lost: stops it (a few hundred bytes at most). */
function stopOnComplete(running: Running, data: unknown): void {
  const text = Buffer.isBuffer(data) && data.length <= 512 ? data.toString() : typeof data === 'string' && data.length <= 512 ? data : null;
  if (!text?.includes('complete')) return;
  let message: { type?: unknown; id?: unknown };
  try {
    message = JSON.parse(text) as typeof message;
  } catch {
    return; // graphql-ws answers what it cannot read
  }
  if (message?.type === 'complete' && typeof message.id === 'string') running.get(message.id)?.stop?.();
}

/** graphql-js's execute, releasing the operation's place once it has answered. */
async function executeCounted(args: ExecutionArgs) {
  try {
    return await execute(args);
  } finally {
    release(args.contextValue);
  }
}

/**
 * graphql-ws builds a subscription's context once, but DataLoader caches must not outlive
 * one answer: each event is executed with a fresh set of loaders. The operation's place on
 * its socket is released when the stream ends, fails or is stopped.
 */
function subscribeWithFreshLoaders(newLoaders: () => Context['loaders']) {
  return async (args: ExecutionArgs) => {
    let stream;
    try {
      stream = await createSourceEventStream(args);
    } catch (err) {
      release(args.contextValue);
      throw err;
    }
    if (!isAsyncIterable(stream)) {
      release(args.contextValue);
      return stream as ExecutionResult;
    }
    const source = stream[Symbol.asyncIterator]();
    const events: AsyncIterableIterator<ExecutionResult> = {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        let r;
        try {
          r = await source.next();
        } catch (err) {
          release(args.contextValue);
          throw err;
        }
        if (r.done) {
          release(args.contextValue);
          return { done: true, value: undefined };
        }
        const contextValue = { ...(args.contextValue as Context), loaders: newLoaders() };
        return { done: false, value: (await execute({ ...args, rootValue: r.value, contextValue })) as ExecutionResult };
      },
      async return() {
        release(args.contextValue);
        await source.return?.();
        return { done: true, value: undefined };
      },
      async throw(err: unknown) {
        release(args.contextValue);
        await source.return?.();
        throw err;
      },
    };
    const operation = operationOf(args.contextValue);
    if (operation) operation.stop = () => void events.return!().catch(() => {});
    return events;
  };
}

function withCode(e: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(e.message, { nodes: e.nodes, source: e.source, positions: e.positions, path: e.path, originalError: e.originalError, extensions: { ...e.extensions, code } });
}

/** A client sees INTERNAL_SERVER_ERROR only; the cause goes to the log. */
function logMasked(logger: Logger, e: GraphQLError): void {
  const cause = maskedCause(e);
  if (cause) logger.error({ err: cause, path: e.path }, 'unexpected error in a subscription answered as INTERNAL_SERVER_ERROR');
}

/**
 * GraphQL over WebSocket (graphql-ws) on the same path as HTTP. The token travels in
 * `connection_init` as `{ authorization: "Bearer …" }`; a missing or bad one closes the
 * socket with 4403 before any operation runs.
 */
export function attachSubscriptions(opts: {
  httpServer: Server;
  schema: GraphQLSchema;
  base: BaseContext;
  authenticate: (header: unknown) => Promise<Principal>;
  /** Registers a callback for "credentials may have been revoked" (in any process); returns its removal. */
  onCredentialsChange: (fn: () => void) => () => void;
  newLoaders: () => Context['loaders'];
  logger: Logger;
}) {
  // A message over the limit closes the socket with 1009 (message too big), as HTTP answers 413.
  const wsServer = new WebSocketServer({ server: opts.httpServer, path: '/graphql', maxPayload: MAX_REQUEST_BYTES });
  let seq = 0;
  // Open connections and the header each authenticated with. A token is checked when a socket
  // connects and again whenever credentials change: revoking a token closes its sockets at
  // once, as it refuses its next HTTP request, instead of leaving a subscription streaming.
  const open = new Map<WebSocket, unknown>();
  const recheck = () => {
    for (const [socket, header] of open) {
      opts.authenticate(header).catch((err: unknown) => {
        if (isConnectionError(err)) return; // unknown now; checked again on the next change
        open.delete(socket);
        opts.logger.info({ reason: (err as Error).message }, 'closing a subscription socket whose token is no longer valid');
        socket.close(CloseCode.Forbidden, 'Forbidden: token revoked');
      });
    }
  };
  const stopRechecking = opts.onCredentialsChange(recheck);
  const refuse = (message: string) => [new GraphQLError(message, { extensions: { code: 'BAD_REQUEST' } })];
  const cleanup = useServer<Record<string, unknown>, { principal?: Principal; running?: Running }>(
    {
      schema: opts.schema,
      // Parsed and validated here rather than by graphql-ws, so that an operation is counted on
      // its socket exactly when it is sure to reach execute or subscribe (both release it):
      // nothing between this hook and them can end it early.
      onSubscribe: (ctx, id, payload) => {
        const running = (ctx.extra.running ??= new Map());
        if (running.has(id)) return refuse(`operation id "${id}" is still running on this connection; use another id`);
        if (running.size >= MAX_OPERATIONS_PER_SOCKET) {
          return refuse(`at most ${MAX_OPERATIONS_PER_SOCKET} operations at once on one connection; complete one first or open another connection`);
        }
        // graphql-ws would treat a syntax error as its own failure and close the socket (4500,
        // logged as an internal error): it is an error of that operation instead.
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (err) {
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        // The same limits as over HTTP (aliases, depth, one ingest per operation).
        const errors = validate(opts.schema, document, [...specifiedRules, ...requestLimitRules]);
        if (errors.length > 0) return errors;
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) return [new GraphQLError('Unable to identify operation')];
        // Variables of the wrong type are the client's error, as over HTTP (BAD_USER_INPUT).
        const coerced = getVariableValues(opts.schema, operation.variableDefinitions ?? [], payload.variables ?? {});
        if (coerced.errors) return coerced.errors.map((e) => withCode(e, 'BAD_USER_INPUT'));
        const contextValue: Context = {
          ...opts.base,
          requestId: `ws-${++seq}`,
          principal: ctx.extra.principal ?? null,
          loaders: opts.newLoaders(),
        };
        const op: Operation = {
          release: () => {
            if (running.get(id) === op) running.delete(id);
          },
        };
        running.set(id, op);
        operations.set(contextValue, op);
        return { schema: opts.schema, document, operationName: payload.operationName, variableValues: payload.variables, contextValue };
      },
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        try {
          const header = params.authorization ?? params.Authorization;
          ctx.extra.principal = await opts.authenticate(header);
          const socket = ctx.extra.socket;
          // A socket that closed while its token was being checked has no 'close' left to come.
          if (socket.readyState === socket.OPEN) {
            open.set(socket, header);
            const running: Running = (ctx.extra.running ??= new Map());
            // After graphql-ws's own handling of the message (its listener came first).
            socket.on('message', (data) => stopOnComplete(running, data));
            socket.once('close', () => {
              open.delete(socket);
              for (const op of [...running.values()]) op.stop?.();
            });
          }
          return true;
        } catch (err) {
          // An outage is not the client's fault: close as a server error so it retries.
          if (isConnectionError(err)) throw err;
          // graphql-ws would close with a bare "Forbidden"; say why (a close reason holds 123 bytes).
          ctx.extra.socket.close(CloseCode.Forbidden, Buffer.from(`Forbidden: ${(err as Error).message}`).subarray(0, 123).toString());
          return false;
        }
      },
      execute: executeCounted,
      subscribe: subscribeWithFreshLoaders(opts.newLoaders),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map((e) => (logMasked(opts.logger, e), formatError(e.toJSON(), e))) } : undefined,
      // What reaches onError failed before execution: a syntax error or a validation error
      // (the alias limit, one ingest per operation, an unknown field…). graphql-ws leaves them
      // without a code; they are the client's, so they get the code they get over HTTP instead
      // of being masked (and logged) as internal errors.
      onError: (_ctx, _id, _payload, errors) =>
        errors.map((e) => {
          const coded = e.extensions?.code ? e : withCode(e, e.message.startsWith('Syntax Error') ? 'GRAPHQL_PARSE_FAILED' : 'GRAPHQL_VALIDATION_FAILED');
          logMasked(opts.logger, coded);
          return formatError(coded.toJSON(), coded);
        }),
    },
    wsServer,
  );
  // ws re-emits the HTTP server's own errors here (a port already in use): they are answered
  // where the server listens, not printed by graphql-ws as an internal error with a stack.
  wsServer.removeAllListeners('error');
  wsServer.on('error', (err) => {
    if (opts.httpServer.listening) opts.logger.error({ err }, 'HTTP server error');
  });
  // ws reports a client's breach of the protocol (a message over maxPayload, invalid UTF-8, a
  // bad frame) as an 'error' on the socket after it has closed it with the matching code (1009,
  // 1007, 1002). graphql-ws's listener would print each to the console, stack and all, as an
  // "Internal error … check your implementation": it is the client's, so it is logged as such.
  // Registered after useServer's, so its listener is there to replace.
  wsServer.on('connection', (socket) => {
    socket.removeAllListeners('error');
    socket.on('error', (err: Error & { code?: string }) => {
      if (err.code?.startsWith('WS_ERR_')) {
        opts.logger.info({ code: err.code, reason: err.message }, 'closed a subscription socket that broke the WebSocket protocol');
        return;
      }
      opts.logger.error({ err }, 'subscription socket failed');
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
  });
  return {
    async dispose() {
      stopRechecking();
      await cleanup.dispose();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}
