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
  '57014', // query_canceled: by an operator or a failover tool, not by anything in the statement
  '25006', // read_only_sql_transaction: a server that cannot take writes now (a standby after a failover)
]);

/**
 * True when an error means "the database cannot serve this right now" (unreachable, shutting
 * down, read-only after a failover, out of resources — class 53 —, the statement cancelled from
 * outside) rather than "this statement is wrong": callers answer 503 / SERVICE_UNAVAILABLE and
 * the client retries.
 */
export function isConnectionError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (e instanceof DatabaseUnavailableError) return true;
    const x = e as { code?: unknown; message?: unknown; name?: unknown; driverError?: unknown; cause?: unknown };
    if (typeof x.code === 'string' && (CONNECTION_CODES.has(x.code) || x.code.startsWith('08') || x.code.startsWith('53'))) return true;
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
