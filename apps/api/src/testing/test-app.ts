import './provided-context.js';
import { inject } from 'vitest';
import { pino, type Logger } from 'pino';
import { openDatabase, type Database } from '@tally/db';
import { createTestDatabase, startTcpProxy, type TcpProxy, type TestDatabase } from '@tally/db/testing';
import { createApp, type App } from '../app.js';
import { parseConfig, type Config } from '../config.js';
import { Role } from '../modules/auth/role.js';

export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: (string | number)[] }[];
}

export interface TestApp {
  app: App;
  db: Database;
  testDb: TestDatabase;
  /** Present with `{ viaProxy: true }`: cut it to make the database unreachable. */
  proxy?: TcpProxy;
  baseUrl: string;
  adminSecret: string;
  /** Every SQL statement the API sent since the start (or since a test emptied it). */
  statements: string[];
  /** POSTs a GraphQL operation, with `Bearer <token>` when a token is given. */
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<GqlResponse<T>>;
  /** Creates a token of the role and returns its secret. */
  tokenFor(role: Role): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real API on a fresh database of this run's target (PostgreSQL or embedded PGlite),
 * migrated, listening on a free port, with an ADMIN token.
 */
export async function startTestApp(opts: { viaProxy?: boolean; env?: Record<string, string>; shareDatabaseWith?: TestApp; logger?: Logger } = {}): Promise<TestApp> {
  // A second API process on the same database (replicas); it leaves dropping it to the first.
  const shared = opts.shareDatabaseWith?.testDb;
  const testDb = shared ?? (await createTestDatabase(inject('testDatabase')));
  let proxy: TcpProxy | undefined;
  let db: Database;
  const statements: string[] = [];
  const onQuery = (sql: string) => statements.push(sql);
  if (opts.viaProxy) {
    proxy = await startTcpProxy(testDb.endpoint);
    const u = new URL(testDb.options.url ?? 'postgres://postgres@localhost/postgres');
    const url = `postgres://${u.username || 'postgres'}${u.password ? `:${u.password}` : ''}@127.0.0.1:${proxy.port}${u.pathname}`;
    db = await openDatabase({ ...testDb.options, url, onQuery });
  } else {
    db = await testDb.open({ onQuery });
  }
  await db.migrate();
  const config: Config = parseConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', PORT: '0', ...opts.env });
  const app = await createApp({ config, db, logger: opts.logger ?? pino({ level: 'silent' }) });
  const port = await app.listen(0, '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${port}`;
  const { secret: adminSecret } = await app.services.auth.createToken({ name: 'test admin', role: Role.ADMIN }, null);
  let closed = false;
  return {
    app,
    db,
    testDb,
    proxy,
    baseUrl,
    adminSecret,
    statements,
    async gql<T>(query: string, variables?: Record<string, unknown>, token: string | null = adminSecret) {
      const res = await fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as GqlResponse<T>;
      return { ...body, status: res.status };
    },
    async tokenFor(role: Role) {
      return (await app.services.auth.createToken({ name: `test ${role.toLowerCase()}`, role }, null)).secret;
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.stop().catch(() => {});
      await db.close().catch(() => {});
      await proxy?.close();
      if (!shared) await testDb.drop();
    },
  };
}
