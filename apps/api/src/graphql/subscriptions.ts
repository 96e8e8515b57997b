import type { Server } from 'node:http';
import { createSourceEventStream, execute, GraphQLError, parse, specifiedRules, validate, type ExecutionArgs, type ExecutionResult, type GraphQLSchema } from 'graphql';
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
 * graphql-ws builds a subscription's context once, but DataLoader caches must not outlive
 * one answer: each event is executed with a fresh set of loaders.
 */
function subscribeWithFreshLoaders(newLoaders: () => Context['loaders']) {
  return async (args: ExecutionArgs) => {
    const stream = await createSourceEventStream(args);
    if (!isAsyncIterable(stream)) return stream as ExecutionResult;
    const source = stream[Symbol.asyncIterator]();
    const events: AsyncIterableIterator<ExecutionResult> = {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        const r = await source.next();
        if (r.done) return { done: true, value: undefined };
        const contextValue = { ...(args.contextValue as Context), loaders: newLoaders() };
        return { done: false, value: (await execute({ ...args, rootValue: r.value, contextValue })) as ExecutionResult };
      },
      async return() {
        await source.return?.();
        return { done: true, value: undefined };
      },
      async throw(err: unknown) {
        await source.return?.();
        throw err;
      },
    };
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
  const cleanup = useServer<Record<string, unknown>, { principal?: Principal }>(
    {
      schema: opts.schema,
      // graphql-ws would treat a syntax error as its own failure and close the socket (4500,
      // logged as an internal error): answer it as an error of that operation instead.
      onSubscribe: (ctx, _id, payload) => {
        // graphql-ws has entered this operation's id already.
        if (Object.keys(ctx.subscriptions).length > MAX_OPERATIONS_PER_SOCKET) {
          return [
            new GraphQLError(`at most ${MAX_OPERATIONS_PER_SOCKET} operations at once on one connection; complete one first or open another connection`, {
              extensions: { code: 'BAD_REQUEST' },
            }),
          ];
        }
        try {
          parse(payload.query);
          return undefined;
        } catch (err) {
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
      },
      // The same limits as over HTTP (aliases, one ingest per operation).
      validate: (schema, document, rules) => validate(schema, document, [...(rules ?? specifiedRules), ...requestLimitRules]),
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        try {
          const header = params.authorization ?? params.Authorization;
          ctx.extra.principal = await opts.authenticate(header);
          const socket = ctx.extra.socket;
          // A socket that closed while its token was being checked has no 'close' left to come.
          if (socket.readyState === socket.OPEN) {
            open.set(socket, header);
            socket.once('close', () => open.delete(socket));
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
      context: (ctx): Context => ({
        ...opts.base,
        requestId: `ws-${++seq}`,
        principal: ctx.extra.principal ?? null,
        loaders: opts.newLoaders(),
      }),
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
  return {
    async dispose() {
      stopRechecking();
      await cleanup.dispose();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}
