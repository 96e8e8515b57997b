import { z } from 'zod';

const schema = z
  .object({
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    TALLY_DATA_DIR: z.string().min(1).default('./.tally'),
    PORT: z.coerce.number().int().min(0).max(65_535).default(4000),
    HOST: z.string().min(1).default('0.0.0.0'),
    // Trimmed (a secret file or `echo` leaves a newline), then it must be what a client can send
    // in "Authorization: Bearer <token>": printable ASCII without spaces, as parseBearer reads it.
    TALLY_ADMIN_TOKEN: z
      .string()
      .trim()
      .min(24, 'must be at least 24 characters')
      .max(512, 'must be at most 512 characters')
      .regex(/^[!-~]+$/, 'must be printable ASCII without spaces (it is sent as "Authorization: Bearer <token>")')
      .optional(),
    TALLY_DEMO: z.enum(['on', 'off']).optional(),
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(100).default(10),
    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
    // A request holding a database connection longer than this makes the API ask the server what
    // its backend does; no answer, or a lost reply, closes the connection: 503 (Database.closeStuckConnections).
    DATABASE_STUCK_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
    INGEST_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(1024 ** 3).default(16 * 1024 * 1024),
    INGEST_MAX_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(16),
    // How GraphQL queries run: plain ones compiled by graphql-jit (faster on long lists; the rest
    // and every mutation on graphql-js), or all on graphql-js, the escape hatch should a
    // compiled query ever misbehave (graphql/compiled-executor.ts).
    GRAPHQL_EXECUTOR: z.enum(['compiled', 'graphql-js']).default('compiled'),
  })
  .transform((e) => ({
    databaseUrl: e.DATABASE_URL,
    dataDir: e.TALLY_DATA_DIR,
    port: e.PORT,
    host: e.HOST,
    adminToken: e.TALLY_ADMIN_TOKEN,
    // The demo quarter is loaded by default only where nobody's real data can be: the embedded store.
    demo: (e.TALLY_DEMO ?? (e.DATABASE_URL ? 'off' : 'on')) === 'on',
    nodeEnv: e.NODE_ENV,
    production: e.NODE_ENV === 'production',
    logLevel: e.LOG_LEVEL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    databaseStuckTimeoutMs: e.DATABASE_STUCK_TIMEOUT_MS,
    ingestMaxBodyBytes: e.INGEST_MAX_BODY_BYTES,
    ingestMaxConcurrency: e.INGEST_MAX_CONCURRENCY,
    graphqlExecutor: e.GRAPHQL_EXECUTOR,
  }));

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses the environment once at boot; the rest of the code reads the returned object and
 * never `process.env`. Throws `ConfigError` naming every bad variable.
 */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings (VAR= in a shell or .env file) mean "not set".
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return result.data;
}
