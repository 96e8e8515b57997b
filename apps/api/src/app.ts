import http from 'node:http';
import { randomUUID } from 'node:crypto';
import express, { type ErrorRequestHandler } from 'express';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { pinoHttp } from 'pino-http';
import type { Logger } from 'pino';
import { isConnectionError, type Database } from '@tally/db';
import type { Config } from './config.js';
import type { Context } from './context.js';
import { formatError } from './errors/format-error.js';
import { compiledExecutorGateway } from './graphql/compiled-executor.js';
import { requestGuardsPlugin } from './graphql/request-guards.js';
import { MAX_REQUEST_BYTES, requestLimitRules } from './graphql/request-limits.js';
import { attachSubscriptions } from './graphql/subscriptions.js';
import { createLoaders } from './loaders.js';
import { healthRoutes } from './modules/health/health.routes.js';
import { ingestRoutes } from './modules/payments/ingest.routes.js';
import { hexByte, invalidUtf8Offset, isUtf8Charset } from './modules/payments/utf8.js';
import { createTallyPubSub } from './pubsub.js';
import { buildTallySchema } from './schema.js';
import { createServices, type Services } from './services.js';

export interface App {
  readonly httpServer: http.Server;
  readonly schema: GraphQLSchema;
  readonly services: Services;
  /** Starts listening; resolves with the bound port. */
  listen(port: number, host?: string): Promise<number>;
  /**
   * Graceful stop: readiness goes 503, no new connections, in-flight requests finish (up to
   * the configured timeout), sockets close. The database is the caller's to close.
   */
  stop(): Promise<void>;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

function unavailable(): GraphQLError {
  return new GraphQLError('the database is unavailable; retry shortly', {
    extensions: { code: 'SERVICE_UNAVAILABLE', http: { status: 503, headers: new Map([['retry-after', '5']]) } },
  });
}

/**
 * GraphQL bodies are UTF-8 JSON. body-parser would decode other `utf-*` charsets, and replace
 * bytes that are not UTF-8 with U+FFFD — merging distinct ids in ingestPaymentOutcomes as the
 * HTTP ingest once did. Both are refused before parsing (415 / 400), as on /v1/ingest.
 */
function requireUtf8(_req: http.IncomingMessage, _res: http.ServerResponse, body: Buffer, encoding: string): void {
  if (!isUtf8Charset(encoding)) {
    throw Object.assign(new Error(`charset "${encoding}" is not supported: the body must be UTF-8`), { status: 415 });
  }
  const bad = invalidUtf8Offset(body);
  if (bad !== -1) {
    throw Object.assign(new Error(`body is not valid UTF-8 (byte offset ${bad}: ${hexByte(body[bad]!)}); send UTF-8 text`), { status: 400 });
  }
}

export async function createApp(opts: { config: Config; db: Database; logger: Logger }): Promise<App> {
  const { config, db, logger } = opts;
  const pubSub = createTallyPubSub();
  const services = createServices(db, pubSub, logger);
  services.changes.start();
  const stopWatchingConnections = db.closeStuckConnections(config.databaseStuckTimeoutMs, (heldMs) =>
    logger.warn({ heldMs }, 'closed a database connection held longer than DATABASE_STUCK_TIMEOUT_MS: the database does not answer, or its reply was lost; its request answers 503'),
  );
  const schema = await buildTallySchema(pubSub);
  const newLoaders = () => createLoaders(db, services);
  let draining = false;

  const app = express();
  app.disable('x-powered-by');
  // Every answer here is to a POST (GraphQL, ingest) or a probe: an ETag would never be used
  // for a conditional request, yet Express hashes each body for it (≈ 60 µs a 30-day series).
  app.disable('etag');
  const httpServer = http.createServer(app);

  app.use(
    pinoHttp({
      logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
    }),
  );
  app.use(healthRoutes(db, () => draining));
  app.use(
    ingestRoutes({
      sources: services.sources,
      ingest: services.paymentIngest,
      log: logger,
      maxBodyBytes: config.ingestMaxBodyBytes,
      maxConcurrent: config.ingestMaxConcurrency,
    }),
  );

  const base = { services, db, config, log: logger };
  const ws = attachSubscriptions({
    httpServer,
    schema,
    base,
    authenticate: (header) => services.auth.requirePrincipal(header),
    // After AuthService's own handler (registered first) has forgotten cached tokens.
    onCredentialsChange: (fn) => services.changes.on((n) => (n.topic === 'credentials' || n.topic === 'resync') && fn()),
    newLoaders,
    logger,
  });

  const apollo = new ApolloServer<Context>({
    ...(config.graphqlExecutor === 'compiled' ? { gateway: compiledExecutorGateway(schema) } : { schema }),
    formatError,
    includeStacktraceInErrorResponses: false,
    introspection: true,
    // In production, no "Did you mean …?" suggestions naming fields, arguments and enum values
    // to callers without a token (introspection needs one there, see requestGuardsPlugin).
    hideSchemaDetailsFromClientErrors: config.production,
    stopOnTerminationSignals: false,
    validationRules: requestLimitRules,
    // Compact JSON: Apollo pretty-prints by default, which costs time and bytes on every series.
    stringifyResult: (result) => JSON.stringify(result),
    plugins: [
      // Responses are per-token and never cached by HTTP caches, so @cacheControl hints have no
      // use here; the default cache-control plugin would wrap every field resolver to collect them.
      ApolloServerPluginCacheControlDisabled(),
      requestGuardsPlugin(logger, { production: config.production }),
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownTimeoutMs }),
      { serverWillStart: async () => ({ drainServer: () => ws.dispose() }) },
      config.production ? ApolloServerPluginLandingPageDisabled() : ApolloServerPluginLandingPageLocalDefault({ embed: true }),
    ],
  });
  await apollo.start();

  app.use(
    '/graphql',
    express.json({ limit: MAX_REQUEST_BYTES, verify: requireUtf8 }),
    expressMiddleware(apollo, {
      context: async ({ req }): Promise<Context> => {
        let auth;
        try {
          auth = await services.auth.authenticate(req.headers.authorization);
        } catch (err) {
          if (isConnectionError(err)) throw unavailable();
          throw err;
        }
        return {
          ...base,
          requestId: String(req.id),
          principal: auth.principal,
          ...(auth.principal ? {} : { authFailure: auth.failure }),
          loaders: newLoaders(),
          log: req.log,
        };
      },
    }),
  );

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  // Body-parser and other middleware errors: a clear status and message, never a stack.
  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    const status = typeof err?.status === 'number' && err.status >= 400 && err.status < 600 ? err.status : 500;
    if (status >= 500) req.log?.error({ err }, 'request failed');
    res.status(status).json({ error: status < 500 && typeof err?.message === 'string' ? err.message : 'internal server error' });
  };
  app.use(onError);

  return {
    httpServer,
    schema,
    services,
    listen: (port, host) =>
      new Promise<number>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => {
          httpServer.off('error', reject);
          resolve((httpServer.address() as { port: number }).port);
        });
      }),
    async stop() {
      draining = true;
      await apollo.stop();
      await services.changes.stop();
      stopWatchingConnections();
    },
  };
}
