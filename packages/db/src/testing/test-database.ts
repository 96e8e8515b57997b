import net from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import { openDatabase, type Database, type DatabaseOptions } from '../database.js';
import { startEmbeddedServer, type EmbeddedServer } from '../embedded.js';

/** Where integration tests get their databases: a PostgreSQL server, or embedded PGlite. */
export type TestDatabaseTarget = { kind: 'postgres'; adminUrl: string } | { kind: 'embedded' };

const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_500 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * `TEST_DATABASE_URL` when set (and it must answer; the word `embedded` forces PGlite), else a PostgreSQL at 127.0.0.1:5432
 * when one answers, else embedded PGlite.
 */
export async function resolveTestDatabaseTarget(env: NodeJS.ProcessEnv = process.env): Promise<TestDatabaseTarget> {
  const explicit = env.TEST_DATABASE_URL;
  // `embedded` forces PGlite even where a PostgreSQL answers (to test that path on a dev machine).
  if (explicit === 'embedded') return { kind: 'embedded' };
  if (explicit) {
    if (!(await answers(explicit))) throw new Error(`TEST_DATABASE_URL does not answer: ${redact(explicit)}`);
    return { kind: 'postgres', adminUrl: explicit };
  }
  if (await answers(LOCAL_POSTGRES)) return { kind: 'postgres', adminUrl: LOCAL_POSTGRES };
  return { kind: 'embedded' };
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

export function describeTarget(t: TestDatabaseTarget): string {
  return t.kind === 'postgres' ? `PostgreSQL ${redact(t.adminUrl)}` : 'embedded PGlite (in memory)';
}

/** A fresh, empty database for one test file, and how to reach it. */
export interface TestDatabase {
  readonly target: TestDatabaseTarget;
  /** Options for `openDatabase` that reach this database. */
  readonly options: DatabaseOptions;
  /** Where a TCP client (or a proxy) can reach it. */
  readonly endpoint: { host: string; port: number } | { path: string };
  /** Opens a connection pool on it (migrations not applied). */
  open(extra?: Partial<DatabaseOptions>): Promise<Database>;
  /** Removes the database. */
  drop(): Promise<void>;
}

/** Creates a new empty database on the target: `CREATE DATABASE` on PostgreSQL, a new in-memory PGlite otherwise. */
export async function createTestDatabase(target: TestDatabaseTarget): Promise<TestDatabase> {
  if (target.kind === 'postgres') {
    const name = `tally_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: target.adminUrl });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE "${name}"`);
    } finally {
      await admin.end();
    }
    const u = new URL(target.adminUrl);
    u.pathname = `/${name}`;
    const url = u.toString();
    const c = parseConnectionString(url);
    return {
      target,
      options: { url, poolSize: 4 },
      endpoint: { host: c.host ?? '127.0.0.1', port: Number(c.port ?? 5432) },
      open: (extra) => openDatabase({ url, poolSize: 4, ...extra }),
      async drop() {
        const a = new pg.Client({ connectionString: target.adminUrl });
        await a.connect();
        try {
          await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        } finally {
          await a.end();
        }
      },
    };
  }
  const server: EmbeddedServer = await startEmbeddedServer(null);
  return {
    target,
    options: { url: server.url, singleConnection: true },
    endpoint: { path: server.socketPath },
    open: (extra) => openDatabase({ url: server.url, singleConnection: true, ...extra }),
    drop: () => server.stop(),
  };
}

/**
 * A TCP proxy in front of a database so a test can make it unreachable and bring it back
 * without stopping the real server other tests share.
 */
export interface TcpProxy {
  readonly port: number;
  /** Refuses new connections and cuts the open ones. */
  cut(): Promise<void>;
  /** Accepts connections again (same port). */
  restore(): Promise<void>;
  /**
   * Stops passing bytes either way and holds new connections unanswered, every socket kept
   * open: a database that stopped answering (a frozen host, a partition) rather than one that
   * went away. With `'open'`, only the connections open now are frozen and new ones pass: a
   * flow lost on the way (a failover, a firewall's forgotten state) while the server is fine.
   */
  freeze(which?: 'all' | 'open'): void;
  /** Passes bytes again, what was held first. */
  thaw(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(to: { host: string; port: number } | { path: string }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const held: net.Socket[] = [];
  let frozen = false;
  let server: net.Server | undefined;
  let port = 0;
  const connect = (client: net.Socket) => {
    const upstream = 'path' in to ? net.connect(to.path) : net.connect(to.port, to.host);
    const pair = { client, upstream };
    pairs.add(pair);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => {
        sockets.delete(s);
        pairs.delete(pair);
      });
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  };
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = net.createServer((client) => {
        if (!frozen) return connect(client);
        client.pause();
        sockets.add(client);
        client.on('error', () => client.destroy());
        client.on('close', () => sockets.delete(client));
        held.push(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as net.AddressInfo).port;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      pairs.clear();
      held.length = 0;
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });
  await listen();
  return {
    get port() {
      return port;
    },
    cut: stop,
    restore: listen,
    freeze(which = 'all') {
      frozen = which === 'all';
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const { client, upstream } of pairs) client.pipe(upstream).pipe(client);
      for (const client of held.splice(0)) if (!client.destroyed) connect(client);
    },
    close: stop,
  };
}
