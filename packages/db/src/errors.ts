/** The database cannot be reached (down, restarting, network cut). Retryable. */
export class DatabaseUnavailableError extends Error {
  readonly code = 'DATABASE_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseUnavailableError';
  }
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH', 'ENOENT',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '53100', // disk_full: the server's to fix; the same batch succeeds once it is
  '25006', // read_only_sql_transaction: a server that cannot take writes now (a standby after a failover)
]);
/**
 * query_canceled (57014) is transient only when someone cancelled the statement (an operator, a
 * failover tool): `statement_timeout` raises it too, and that one comes back on every retry. The
 * server names the cause only in its message (English unless lc_messages says otherwise; a
 * translated one is taken as not retryable, the safe side).
 */
const CANCELLED_BY_REQUEST = /due to user request/;

/**
 * True when an error means "the database cannot serve this right now" (unreachable, shutting
 * down, read-only after a failover, out of connections or disk, the statement cancelled from
 * outside) rather than "this statement is wrong" — a retry of the same request can succeed:
 * callers answer 503 / SERVICE_UNAVAILABLE and the client retries. Limits the statement itself
 * hits (statement_timeout, temp_file_limit, out of memory) are not: retrying them changes nothing.
 */
export function isConnectionError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (e instanceof DatabaseUnavailableError) return true;
    const x = e as { code?: unknown; message?: unknown; name?: unknown; driverError?: unknown; cause?: unknown };
    if (typeof x.code === 'string' && (CONNECTION_CODES.has(x.code) || x.code.startsWith('08'))) return true;
    if (x.code === '57014' && typeof x.message === 'string' && CANCELLED_BY_REQUEST.test(x.message)) return true;
    // TypeORM releases a query runner when its connection emits 'error' (the server dropped it);
    // the transaction's next statement (COPY, COMMIT) then fails with one of these.
    if (x.name === 'QueryRunnerAlreadyReleasedError' || x.name === 'QueryRunnerProviderAlreadyReleasedError') return true;
    if (
      typeof x.message === 'string' &&
      /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|connect ECONNREFUSED|Cannot use a pool after calling end|Client was closed and is not queryable/i.test(x.message)
    ) {
      return true;
    }
    e = x.driverError ?? x.cause;
  }
  return false;
}

/** True for a unique violation (23505), of `constraint` when given; through TypeORM's wrapper too. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = ((err as { driverError?: unknown })?.driverError ?? err) as { code?: unknown; constraint?: unknown };
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}
