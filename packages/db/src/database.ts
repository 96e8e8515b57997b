import 'reflect-metadata';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import type { EventEmitter } from 'node:events';
import { parse as parseConnectionString } from 'pg-connection-string';
import { AbstractLogger, DataSource, type LogLevel, type LogMessage } from 'typeorm';
import { entities } from './entities/index.js';
import { migrations } from './migrations/index.js';
import { startEmbeddedServer, type EmbeddedServer } from './embedded.js';
import { DatabaseUnavailableError, isConnectionError } from './errors.js';
import { listen, type Listener } from './listener.js';
import { prepareReadsOn } from './payments/payment-counts.repository.js';

export interface DatabaseOptions {
  /** `postgres://…` of a real server. Absent: embedded PGlite in `dataDir`. */
  url?: string;
  /** Embedded data directory; `null` keeps the embedded database in memory (tests). */
  dataDir?: string | null;
  /** Set when `url` reaches a single-session server (an embedded database over its socket). */
  singleConnection?: boolean;
  /** Pool size for a real server (default 10). */
  poolSize?: number;
  applicationName?: string;
  /** Called with every SQL statement sent (tests count statements per request with it). */
  onQuery?: (sql: string) => void;
}

/** An open database: the TypeORM data source plus what the API needs to report on it. */
export interface Database {
  readonly kind: 'postgres' | 'embedded';
  /** Where the data lives, without credentials, e.g. `PostgreSQL at 127.0.0.1:5432/tally`. */
  readonly description: string;
  readonly dataSource: DataSource;
  /** True when the database serves one connection at a time (embedded PGlite). */
  readonly singleConnection: boolean;
  /**
   * LISTEN on a channel with a dedicated connection, or null for the embedded database (one
   * process, one session: changes are delivered in-process instead).
   */
  listen(channel: string, onMessage: (payload: string) => void, onReconnect: () => void): Listener | null;
  /** Resolves when the database answers `SELECT 1` within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<void>;
  /**
   * From now on, once a pooled connection has been checked out for longer than `afterMs`,
   * asks the server over a new connection what its backend does, and closes the connection
   * when the server does not answer or the backend is no longer working for it (see
   * watchCheckouts); returns the function that stops it. Nothing for the embedded database
   * (in the process: it cannot stall apart from it).
   */
  closeStuckConnections(afterMs: number, onClose: (heldMs: number) => void): () => void;
  /** Applies pending migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  /** Reverts the last applied migration (used by `tally migrate down`). */
  revertLast(): Promise<void>;
  close(): Promise<void>;
}

/** Hands each statement to a callback; TypeORM only calls loggers for what `logging` enables. */
class StatementListener extends AbstractLogger {
  constructor(private readonly listener: (sql: string) => void) {
    super(['query']);
  }
  override logQuery(query: string): void {
    this.listener(query);
  }
  protected writeLog(_level: LogLevel, _message: LogMessage | string | number | (LogMessage | string | number)[]): void {}
}

function describeUrl(url: string): string {
  const c = parseConnectionString(url);
  const where = c.host?.startsWith('/') ? `socket ${c.host}` : `${c.host ?? 'localhost'}:${c.port ?? 5432}`;
  return `PostgreSQL at ${where}/${c.database ?? ''}`;
}

const GUARDED = Symbol('tally.errorGuarded');

/**
 * A pooled connection the server drops while it is checked out (a terminated backend, a
 * failover, an idle-session timeout, a proxy reset) emits 'error'; pg-pool listens only while
 * a connection is idle, and TypeORM only during part of a query, so such an error went
 * unhandled and ended the process. Every connection gets a listener for its whole life: the
 * statement in flight still fails with the error (answered as 503 by the caller), the pool
 * discards the broken connection on release, and the process keeps serving.
 */
function guardCheckedOutClients(dataSource: DataSource): void {
  const pool = (dataSource.driver as unknown as { master?: { on(event: 'acquire', fn: (client: EventEmitter & { [GUARDED]?: true }) => void): void } }).master;
  pool?.on('acquire', (client) => {
    if (client[GUARDED]) return;
    client[GUARDED] = true;
    client.on('error', () => {});
  });
}

interface WatchedPool {
  on(event: 'acquire' | 'remove', fn: (client: PoolClientLike) => void): void;
  on(event: 'release', fn: (err: unknown, client: PoolClientLike) => void): void;
  off(event: string, fn: (...args: never[]) => void): void;
}
interface PoolClientLike {
  end(): Promise<void>;
  /** The server process of the connection (from its BackendKeyData). */
  processID?: number | null;
}

/** What the probe learnt: whether the server answers, and which of the given backends wait on a reply that is lost. */
interface ProbeAnswer {
  answered: boolean;
  lost: ReadonlySet<number>;
}

/**
 * A database that stops answering without closing its connections (a frozen host, a network
 * partition that drops packets, a flow a failover or a firewall forgot) leaves each statement
 * in flight waiting for ever: TCP sees nothing wrong, and node-postgres's own `query_timeout`
 * would hand the connection back to the pool with the abandoned statement still on it (a later
 * ROLLBACK could then be dropped from its queue, leaving a transaction open for the next user).
 *
 * So once a connection has been checked out for longer than `afterMs`, the server is asked over
 * a new connection of its own (outside the pool, which stuck connections may fill) what the
 * backends of the connections over the limit are doing:
 * - no answer within the probe's time (a timeout, a network error): every connection over the
 *   limit is closed;
 * - an answer: a backend that is idle (or idle in a transaction) for a while, blocked sending
 *   its result, or in a COPY that receives nothing, while its connection still waits, has lost
 *   its client: the probe ends that backend (its transaction rolls back and its locks go at
 *   once) and the connection is closed. A backend at work is left to finish, however long it
 *   takes (a time-zone change rebuilds the day table in one transaction), and looked at again
 *   `afterMs` later; so is a backend the server does not show (behind a pooler the process id
 *   is the pooler's).
 * A server that refuses the probe (too many connections, authentication) has answered too:
 * nothing is closed. A closed connection's statement fails as a connection error (503 to the
 * client; nothing of the transaction is committed unless its COMMIT had already reached the
 * server, and then the client's retry is a duplicate) and the pool discards it. When the
 * server did not answer, its backend lives on until the server sees the socket gone (TCP
 * keepalive; `idle_in_transaction_session_timeout` on the server shortens that, see
 * docs/payments.md). Checked every second or so, one probe at a time.
 */
function watchCheckouts(
  dataSource: DataSource,
  probe: (pids: number[], timeoutMs: number, idleMs: number) => Promise<ProbeAnswer>,
  afterMs: number,
  onClose: (heldMs: number) => void,
): () => void {
  const pool = (dataSource.driver as unknown as { master?: WatchedPool }).master;
  if (!pool) return () => {};
  const since = new Map<PoolClientLike, number>();
  const acquired = (client: PoolClientLike) => since.set(client, Date.now());
  const released = (_err: unknown, client: PoolClientLike) => since.delete(client);
  const removed = (client: PoolClientLike) => since.delete(client);
  pool.on('acquire', acquired);
  pool.on('release', released);
  pool.on('remove', removed);
  let probing = false;
  const timer = setInterval(
    () => {
      if (probing) return;
      const started = Date.now();
      const over = [...since].filter(([, at]) => started - at > afterMs).map(([client]) => client);
      if (over.length === 0) return;
      probing = true;
      const pids = over.map((c) => c.processID).filter((pid): pid is number => typeof pid === 'number');
      probe(pids, Math.min(afterMs, 5_000), Math.min(afterMs, 5_000))
        .then(({ answered, lost }) => {
          const now = Date.now();
          for (const client of over) {
            const at = since.get(client);
            if (at === undefined) continue; // released meanwhile
            if (answered && !(typeof client.processID === 'number' && lost.has(client.processID))) {
              since.set(client, now);
              continue;
            }
            since.delete(client);
            onClose(now - at);
            // With a statement in flight, end() destroys the socket instead of waiting for it.
            client.end().catch(() => {});
          }
        })
        .finally(() => (probing = false));
    },
    Math.max(50, Math.min(1_000, Math.floor(afterMs / 4))),
  );
  timer.unref();
  return () => {
    clearInterval(timer);
    pool.off('acquire', acquired as never);
    pool.off('release', released as never);
    pool.off('remove', removed as never);
  };
}

/** How long a COPY's backend must wait for data without receiving a byte to count as stalled. */
const COPY_STALL_MS = 1_000;
/** A look at the COPYs that came this much later than asked tells nothing (see probeServer). */
const COPY_LOOK_SLACK_MS = 250;

/** A backend as seen by one look: what must still hold when it is ended. */
interface Seen {
  pid: number;
  backend_start: string;
  state_change: string;
}

/**
 * Asks the server, over a new connection, which of `pids` wait on a client whose connection is
 * lost: idle (or idle in a transaction) for more than `idleMs`, blocked sending a result for
 * more than `idleMs`, or in a COPY waiting for data that does not come (not a byte in
 * COPY_STALL_MS; PostgreSQL 14+ reports COPY progress). Those backends are ended
 * (pg_terminate_backend): one idle in a transaction holds its locks, and other requests for
 * the same events or counters (the client's own retry first) would wait until the server
 * noticed the socket gone, which TCP keepalive takes hours to do. A backend is ended only if
 * it has not moved since it was seen (same process start, same last state change): one whose
 * reply arrived meanwhile, or a new process with the same pid, is left alone.
 *
 * The COPY data comes from this very process, whose event loop also runs this probe: a loop
 * blocked past the second look (a long garbage collection, a starved CPU) would hold back both
 * the data and the look, and a healthy COPY would seem stalled. So the second look waits for one
 * turn of the loop's I/O (buffered data flushed) and counts only when no turn of the loop
 * between the two looks was late.
 *
 * An error the server sent (it refused the connection) is an answer. Each question has
 * `timeoutMs` to be answered.
 */
export async function probeServer(config: pg.ClientConfig, pids: number[], timeoutMs: number, idleMs: number): Promise<ProbeAnswer> {
  const client = new pg.Client({ ...config, application_name: 'tally-probe', connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  const timers: NodeJS.Timeout[] = [];
  const answer = <T>(step: Promise<T>) =>
    Promise.race([step, new Promise<never>((_, reject) => timers.push(setTimeout(() => reject(new Error('no answer')), timeoutMs)))]);
  const copyLook = async (of: number[]) => {
    try {
      const r = await answer(
        client.query<Seen & { bytes: string }>(
          `SELECT p.pid, a.backend_start::text, a.state_change::text, p.bytes_processed::text AS bytes
             FROM pg_stat_progress_copy p JOIN pg_stat_activity a ON a.pid = p.pid
            WHERE p.pid = ANY($1::int[]) AND a.state = 'active' AND a.wait_event = 'ClientRead'`,
          [of],
        ),
      );
      return new Map(r.rows.map((row) => [row.pid, row]));
    } catch (err) {
      // The server refused (no such view before PostgreSQL 14): no COPY is judged, the rest stands.
      if (typeof (err as { severity?: unknown }).severity === 'string') return new Map<number, Seen & { bytes: string }>();
      throw err;
    }
  };
  try {
    await answer(client.connect());
    const idle = await answer(
      client.query<Seen>(
        `SELECT pid, backend_start::text, state_change::text FROM pg_stat_activity
          WHERE pid = ANY($1::int[])
            AND (state LIKE 'idle%' OR wait_event = 'ClientWrite')
            AND state_change < now() - make_interval(secs => $2 / 1000.0)`,
        [pids, idleMs],
      ),
    );
    const lost = new Map(idle.rows.map((r) => [r.pid, r]));
    // Two looks at the COPYs waiting for data: one that received nothing in between is stalled.
    // A pair of looks not on time is taken again (up to three times), then left to the next probe.
    let copying = await copyLook(pids.filter((pid) => !lost.has(pid)));
    for (let tries = 0; copying.size > 0 && tries < 3; tries++) {
      // Any turn of the loop later than the slack between the looks (not only the last one) could
      // have held data back.
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      const asked = Date.now();
      await new Promise((resolve) => setTimeout(resolve, COPY_STALL_MS));
      await new Promise((resolve) => setImmediate(resolve)); // after the loop's I/O: pending COPY data written
      loop.disable();
      const onTime = Date.now() - asked <= COPY_STALL_MS + COPY_LOOK_SLACK_MS && loop.max / 1e6 <= COPY_LOOK_SLACK_MS;
      const again = await copyLook([...copying.keys()]);
      if (!onTime) {
        copying = again;
        continue;
      }
      for (const [pid, now] of again) {
        const before = copying.get(pid)!;
        if (now.bytes === before.bytes && now.state_change === before.state_change && now.backend_start === before.backend_start) lost.set(pid, now);
      }
      break;
    }
    if (lost.size === 0) return { answered: true, lost: new Set() };
    const seen = [...lost.values()];
    try {
      // Only a backend that has not moved since it was seen (and a COPY that still has received
      // nothing more); the ones it ended are the ones lost: a client whose reply came meanwhile
      // keeps its connection.
      const ended = await answer(
        client.query<{ pid: number }>(
          // OFFSET 0 keeps the conditions inside, evaluated before any backend is ended (the
          // planner may otherwise order a cheap function call before them).
          `SELECT pid FROM (
             SELECT a.pid
               FROM pg_stat_activity a
               JOIN unnest($1::int[], $2::text[], $3::text[], $4::text[]) AS s(pid, backend_start, state_change, bytes)
                 ON a.pid = s.pid AND a.backend_start::text = s.backend_start AND a.state_change::text = s.state_change
              WHERE s.bytes IS NULL OR s.bytes = (SELECT p.bytes_processed::text FROM pg_stat_progress_copy p WHERE p.pid = a.pid)
             OFFSET 0) AS unmoved
           WHERE pg_terminate_backend(pid)`,
          [seen.map((x) => x.pid), seen.map((x) => x.backend_start), seen.map((x) => x.state_change), seen.map((x) => ('bytes' in x ? (x as { bytes: string }).bytes : null))],
        ),
      );
      return { answered: true, lost: new Set(ended.rows.map((r) => r.pid)) };
    } catch {
      // Not ended (no answer now, or not allowed): the client's side is closed all the same.
      return { answered: true, lost: new Set(lost.keys()) };
    }
  } catch (err) {
    // A message from the server (severity, SQLSTATE) is an answer; a timeout or a socket error is not.
    return { answered: typeof (err as { severity?: unknown }).severity === 'string', lost: new Set() };
  } finally {
    for (const t of timers) clearTimeout(t);
    client.end().catch(() => {});
  }
}

const MIGRATION_LOCK = 71_462_024; // pg_advisory_lock key: one migrator at a time across replicas

/**
 * Opens the store: a real PostgreSQL when `url` is given, else embedded PGlite. Both go
 * through the `pg` driver and run the same migrations and SQL. Throws
 * `DatabaseUnavailableError` (one clear line, no stack) when the database cannot be reached.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  let embedded: EmbeddedServer | undefined;
  let url = options.url;
  let kind: Database['kind'] = 'postgres';
  let description: string;
  if (!url) {
    embedded = await startEmbeddedServer(options.dataDir ?? null);
    url = embedded.url;
    kind = 'embedded';
    description = options.dataDir ? `embedded PGlite in ${options.dataDir}` : 'embedded PGlite in memory';
  } else {
    description = describeUrl(url);
  }
  const single = kind === 'embedded' || options.singleConnection === true;
  const c = parseConnectionString(url);
  // The server, for the pool and for connections of their own (LISTEN, the stuck-connection probe).
  const clientConfig = {
    host: c.host ?? 'localhost',
    port: c.port ? Number(c.port) : 5432,
    user: c.user ?? 'postgres',
    password: c.password ?? undefined,
    database: c.database ?? 'postgres',
    ssl: c.ssl as never,
  } satisfies pg.ClientConfig;
  const { user, ...server } = clientConfig;
  const dataSource = new DataSource({
    type: 'postgres',
    ...server,
    username: user,
    entities,
    migrations,
    synchronize: false,
    migrationsRun: false,
    ...(options.onQuery
      ? { logging: ['query'] as const, logger: new StatementListener(options.onQuery) }
      : { logging: false }),
    applicationName: options.applicationName ?? 'tally',
    // A failing idle connection (server restarted) must not crash the process; the pool
    // discards it and the next query opens a new one.
    poolErrorHandler: () => {},
    extra: single
      ? // One session: work queues in the pool instead of interleaving inside PGlite.
        // Idle connections are kept so that a reconnect never races the old socket's close.
        { max: 1, idleTimeoutMillis: 0, connectionTimeoutMillis: 60_000 }
      : { max: options.poolSize ?? 10, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 5_000 },
  });
  try {
    await dataSource.initialize();
  } catch (err) {
    await embedded?.stop().catch(() => {});
    if (isConnectionError(err)) {
      throw new DatabaseUnavailableError(`cannot reach ${description}: ${(err as Error).message || String(err)}`);
    }
    throw err;
  }

  guardCheckedOutClients(dataSource);
  if (!single) prepareReadsOn(dataSource);

  const db: Database = {
    kind,
    description,
    dataSource,
    singleConnection: single,
    listen(channel, onMessage, onReconnect) {
      if (single) return null;
      return listen(
        clientConfig,
        channel,
        onMessage,
        onReconnect,
      );
    },
    async ping(timeoutMs = 2_000) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          dataSource.query('SELECT 1'),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new DatabaseUnavailableError(`no answer from ${description} within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    closeStuckConnections(afterMs, onClose) {
      return single ? () => {} : watchCheckouts(dataSource, (pids, timeoutMs, idleMs) => probeServer(clientConfig, pids, timeoutMs, idleMs), afterMs, onClose);
    },
    async migrate() {
      // Session advisory lock on its own connection; migrations run on another one, so
      // this needs a pool of two — the embedded database has a single process anyway.
      const lock = single ? undefined : dataSource.createQueryRunner();
      try {
        await lock?.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
        const applied = await dataSource.runMigrations({ transaction: 'each' });
        return applied.map((m) => m.name);
      } finally {
        await lock?.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
        await lock?.release();
      }
    },
    async revertLast() {
      await dataSource.undoLastMigration({ transaction: 'each' });
    },
    async close() {
      if (dataSource.isInitialized) await dataSource.destroy();
      await embedded?.stop();
    },
  };
  return db;
}
