import { createHash } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { EntityManager } from 'typeorm';
import type { Direction } from './payment-events.repository.js';
import { JOIN_CODES } from './day-totals.js';

/** Summed counters of one time key, channel and failure code ('' = succeeded). */
export interface CountRow {
  /** `YYYY-MM-DD` for day rows; ISO instant of the bin start for minute rows; '' for a total. */
  key: string;
  channel: string;
  failureCode: string;
  events: number;
  lastOccurredAt: Date;
}

/**
 * A row as the reads below send it, inside one JSON array: [time key, channel, failure code,
 * events, newest event]. The time key is days since 1970-01-01 (day rows), epoch milliseconds
 * of the bin (minute rows), or null (a total); the newest event is in epoch milliseconds (floor).
 */
type RawCountRow = [key: number | null, channel: string, failureCode: string, events: number, lastOccurredAtMs: number];

// Instants and dates cross the wire as numbers: PostgreSQL formats a timestamptz (and
// to_char a date) in the session's zone at about a microsecond a value, and node-postgres
// parses timestamps back with regular expressions; on a 30-day series by channel these were
// most of the read's CPU. Whole milliseconds, truncated as node-postgres does.
const EPOCH_MS = (expr: string) => `floor(extract(epoch FROM ${expr}) * 1000)::int8`;

// Each read answers with one row holding all its groups as a JSON array of arrays:
// node-postgres decodes every field of every row into a string on its own (≈ 0.3 µs each,
// 1,260 for a 30-day series by channel), where one JSON.parse of the whole answer is a
// fraction of that (docs/benchmarks.md). Sums of counters are exact integers far below 2^53.
const AS_JSON = (columns: string, from: string) => `SELECT coalesce(json_agg(json_build_array(${columns})), '[]')::text AS j FROM (${from}) AS g`;

function parseJsonRows<T>(rows: { j: string }[]): T[] {
  return JSON.parse(rows[0]?.j ?? '[]') as T[];
}

const DAY_MS = 86_400_000;

const statementNames = new Map<string, string>();
const preparingSources = new WeakSet<object>();

/**
 * Lets the day reads on this data source go out as named (prepared) statements. Only for a
 * pool of real PostgreSQL sessions: the embedded database is one session that outlives its
 * socket connections, so a reconnected client would prepare a name the session already holds
 * (42P05) on every later read.
 */
export function prepareReadsOn(dataSource: object): void {
  preparingSources.add(dataSource);
}

/** Windows longer than this are planned on every call: see preparedRead. */
const PREPARED_MAX_DAYS = 400;

/**
 * Runs a day read as a named (prepared) statement when the data source allows it (see
 * prepareReadsOn), `m` is not inside a transaction and the window is at most 400 days, so that
 * PostgreSQL parses and plans it once per connection instead of on every call (≈ 0.2 ms of a
 * ≈ 1.3 ms read of 30 days, docs/benchmarks.md). After five calls PostgreSQL may keep one
 * generic plan: for a window of up to a year it is the plan it would have chosen (an index
 * range scan of the day table); for years it is not (a serial scan whose aggregate spills,
 * where a custom plan scans in parallel: 560 against 320 ms for 11 years), hence the limit. The
 * optional channel filter is a separate statement text for the same reason (`$n IS NULL OR …`
 * makes the generic plan a nested loop). Otherwise, as any statement.
 */
async function preparedRead(m: EntityManager, text: string, values: unknown[], days: number): Promise<{ j: string }[]> {
  if (m.queryRunner || !(days <= PREPARED_MAX_DAYS) || !preparingSources.has(m.connection)) return m.query(text, values);
  let name = statementNames.get(text);
  if (name === undefined) statementNames.set(text, (name = `tally_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`));
  // Through a query runner, as TypeORM's own statements: an SQL error leaves the connection in
  // the pool (pool.query would discard it), a broken connection is discarded as usual.
  const runner = m.connection.createQueryRunner();
  try {
    const client = (await runner.connect()) as PoolClient;
    // What TypeORM does for its own statements: tests count the statements of a request with it.
    m.connection.logger.logQuery(text, values);
    return (await client.query({ name, text, values })).rows as { j: string }[];
  } finally {
    await runner.release();
  }
}

/** A read of local days `[fromDate, toDate)`; `sql` filters by channel as `$4` when one is given. */
async function readDays<T>(m: EntityManager, sql: string, q: { direction: Direction; fromDate: string; toDate: string; channel?: string | null }): Promise<T[]> {
  const days = (Date.parse(q.toDate) - Date.parse(q.fromDate)) / DAY_MS;
  return parseJsonRows<T>(await preparedRead(m, sql, [q.direction, q.fromDate, q.toDate, ...(q.channel != null ? [q.channel] : [])], days));
}

/** The channel condition of a day read (a separate statement text with and without it: see preparedRead). */
const channelFilter = (q: { channel?: string | null }, column: string) => (q.channel != null ? ` AND ${column} = $4` : '');

const COUNT_COLUMNS = 'key, channel, failure_code, events, last_ms';

/**
 * `YYYY-MM-DD` of a day number, as `to_char(date, 'YYYY-MM-DD')` writes it (years before 1 AD
 * are written as their BC number, years after 9999 with all their digits).
 */
function isoDate(daysSinceEpoch: number): string {
  const d = new Date(daysSinceEpoch * DAY_MS);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + 1;
  const day = d.getUTCDate();
  return `${String(y <= 0 ? 1 - y : y).padStart(4, '0')}-${m < 10 ? '0' : ''}${m}-${day < 10 ? '0' : ''}${day}`;
}

/** Formats a row's time key (a number, or null for a total), each distinct one once. */
function keyFormatter(key: (k: number) => string): (raw: number | null) => string {
  const keys = new Map<number, string>();
  return (raw) => {
    if (raw === null) return '';
    let k = keys.get(raw);
    if (k === undefined) keys.set(raw, (k = key(raw)));
    return k;
  };
}

function toRows(raw: RawCountRow[], key: (k: number) => string): CountRow[] {
  const format = keyFormatter(key);
  return raw.map(([k, channel, failureCode, events, last]) => ({ key: format(k), channel, failureCode, events, lastOccurredAt: new Date(last) }));
}

/** Local days `[fromDate, toDate)` of the day table, grouped by day (or not), channel and code. */
export async function readDayCounts(
  m: EntityManager,
  q: { direction: Direction; fromDate: string; toDate: string; channel?: string | null; perDay: boolean },
): Promise<CountRow[]> {
  const key = q.perDay ? `local_date - date '1970-01-01'` : 'NULL::int';
  const sql = AS_JSON(
    COUNT_COLUMNS,
    `SELECT ${key} AS key, channel, failure_code, sum(events) AS events, ${EPOCH_MS('max(last_occurred_at)')} AS last_ms
       FROM payment_counts_day
      WHERE direction = $1 AND local_date >= $2::date AND local_date < $3::date${channelFilter(q, 'channel')}
      GROUP BY 1, 2, 3`,
  );
  return toRows(await readDays<RawCountRow>(m, sql, q), isoDate);
}

/** Summed counters of one time key and channel (or all channels: null), by outcome class. */
export interface ClassTotalsRow {
  /** As in CountRow. */
  key: string;
  channel: string | null;
  succeeded: number;
  userFailures: number;
  systemFailures: number;
  unclassifiedFailures: number;
  lastOccurredAt: Date;
}

/** [time key (as in RawCountRow), channel, succeeded, user failures, system failures, attempts, newest event]. */
type RawClassTotalsRow = [key: number | null, channel: string | null, succeeded: number | null, userFailures: number | null, systemFailures: number | null, attempts: number, lastOccurredAtMs: number];

// Minute reads apply attribution by joining the failure-code catalog in the same snapshot: a
// code missing from it or marked UNCLASSIFIED counts as unclassified. Summing by class in the
// database sends one row per (time key, channel) instead of one per failure code. Day reads
// read the same sums kept by class in payment_totals_day (day-totals.ts).
const CLASS_SUMS = `sum(c.events) FILTER (WHERE c.failure_code = '') AS succeeded,
       sum(c.events) FILTER (WHERE f.attribution = 'USER') AS user_failures,
       sum(c.events) FILTER (WHERE f.attribution = 'SYSTEM') AS system_failures,
       sum(c.events) AS attempts`;
const CLASS_COLUMNS = 'key, channel, succeeded, user_failures, system_failures, attempts, last_ms';

function toClassRows(raw: RawClassTotalsRow[], key: (k: number) => string): ClassTotalsRow[] {
  const format = keyFormatter(key);
  return raw.map(([k, channel, s, u, f, attempts, last]) => {
    const succeeded = s ?? 0;
    const userFailures = u ?? 0;
    const systemFailures = f ?? 0;
    return {
      key: format(k),
      channel,
      succeeded,
      userFailures,
      systemFailures,
      unclassifiedFailures: attempts - succeeded - userFailures - systemFailures,
      lastOccurredAt: new Date(last),
    };
  });
}

const ATTEMPTS = 'succeeded + user_failures + system_failures + unclassified_failures';

/**
 * Local days `[fromDate, toDate)` summed by outcome class, per day (or not) and per channel (or
 * not), from the day totals (one row per day and channel already: per day and channel, the
 * rows as they are, without regrouping).
 */
export async function readDayTotals(
  m: EntityManager,
  q: { direction: Direction; fromDate: string; toDate: string; channel?: string | null; perDay: boolean; perChannel: boolean },
): Promise<ClassTotalsRow[]> {
  const where = `WHERE direction = $1 AND local_date >= $2::date AND local_date < $3::date${channelFilter(q, 'channel')}`;
  const sql =
    q.perDay && q.perChannel
      ? AS_JSON(
          CLASS_COLUMNS,
          `SELECT local_date - date '1970-01-01' AS key, channel, succeeded, user_failures, system_failures, ${ATTEMPTS} AS attempts,
                  ${EPOCH_MS('last_occurred_at')} AS last_ms
             FROM payment_totals_day ${where}`,
        )
      : AS_JSON(
          CLASS_COLUMNS,
          `SELECT ${q.perDay ? `local_date - date '1970-01-01'` : 'NULL::int'} AS key, ${q.perChannel ? 'channel' : 'NULL::text'} AS channel,
                  sum(succeeded) AS succeeded, sum(user_failures) AS user_failures, sum(system_failures) AS system_failures,
                  sum(${ATTEMPTS}) AS attempts, ${EPOCH_MS('max(last_occurred_at)')} AS last_ms
             FROM payment_totals_day ${where}
            GROUP BY 1, 2`,
        );
  return toClassRows(await readDays<RawClassTotalsRow>(m, sql, q), isoDate);
}

/**
 * Minute counters inside the given half-open ranges summed by outcome class, in bins of
 * `binSeconds` from `origin` (or one total when null), per channel (or not). With `binStarts`
 * (ascending instants, the first at or before every range), bins are `[start, next start)`
 * instead, keyed by their start, and `binSeconds` and `origin` are not used: for bins of
 * unequal length, such as local hours across a half-hour DST change.
 */
export async function readMinuteTotals(
  m: EntityManager,
  q: {
    direction: Direction;
    ranges: readonly { from: Date; to: Date }[];
    channel?: string | null;
    binSeconds: number | null;
    origin: Date;
    binStarts?: readonly Date[];
    perChannel: boolean;
  },
): Promise<ClassTotalsRow[]> {
  if (q.ranges.length === 0) return [];
  // width_bucket gives the position of the last start ≤ the minute (a binary search in the
  // array); the bin's key is that start. Minute buckets never straddle a bin: bins start on
  // whole minutes.
  const bin = q.binStarts
    ? `($5::timestamptz[])[width_bucket(c.bucket, $5::timestamptz[])]`
    : q.binSeconds
      ? `date_bin(make_interval(secs => $5), c.bucket, $6::timestamptz)`
      : 'NULL::timestamptz';
  const channel = q.perChannel ? 'c.channel' : 'NULL::text';
  // Unnamed: its generic plan would not know how many ranges the arrays hold.
  const rows: { j: string }[] = await m.query(
    AS_JSON(
      CLASS_COLUMNS,
      `SELECT ${EPOCH_MS('bin')} AS key, channel, succeeded, user_failures, system_failures, attempts, ${EPOCH_MS('last_occurred_at')} AS last_ms
         FROM (SELECT ${bin} AS bin, ${channel} AS channel, ${CLASS_SUMS}, max(c.last_occurred_at) AS last_occurred_at
                 FROM payment_counts_minute c
                 JOIN unnest($2::timestamptz[], $3::timestamptz[]) AS r(f, t) ON c.bucket >= r.f AND c.bucket < r.t
                 ${JOIN_CODES}
                WHERE c.direction = $1 AND ($4::text IS NULL OR c.channel = $4)
                GROUP BY 1, 2) AS b`,
    ),
    [
      q.direction,
      q.ranges.map((r) => r.from.toISOString()),
      q.ranges.map((r) => r.to.toISOString()),
      q.channel ?? null,
      ...(q.binStarts ? [q.binStarts.map((d) => d.toISOString())] : q.binSeconds ? [q.binSeconds, q.origin.toISOString()] : []),
    ],
  );
  return toClassRows(parseJsonRows<RawClassTotalsRow>(rows), (ms) => new Date(ms).toISOString());
}

/**
 * Minute counters inside the given half-open ranges, grouped by bins of `binSeconds` from
 * `origin` (or into one total when `binSeconds` is null), channel and code.
 */
export async function readMinuteCounts(
  m: EntityManager,
  q: { direction: Direction; ranges: readonly { from: Date; to: Date }[]; channel?: string | null; binSeconds: number | null; origin: Date },
): Promise<CountRow[]> {
  if (q.ranges.length === 0) return [];
  const bin = q.binSeconds ? `date_bin(make_interval(secs => $5), bucket, $6::timestamptz)` : 'NULL::timestamptz';
  const rows: { j: string }[] = await m.query(
    AS_JSON(
      COUNT_COLUMNS,
      `SELECT ${EPOCH_MS('bin')} AS key, channel, failure_code, events, ${EPOCH_MS('last_occurred_at')} AS last_ms
         FROM (SELECT ${bin} AS bin, channel, failure_code, sum(events) AS events, max(last_occurred_at) AS last_occurred_at
                 FROM payment_counts_minute
                 JOIN unnest($2::timestamptz[], $3::timestamptz[]) AS r(f, t) ON bucket >= r.f AND bucket < r.t
                WHERE direction = $1 AND ($4::text IS NULL OR channel = $4)
                GROUP BY 1, 2, 3) AS b`,
    ),
    [
      q.direction,
      q.ranges.map((r) => r.from.toISOString()),
      q.ranges.map((r) => r.to.toISOString()),
      q.channel ?? null,
      ...(q.binSeconds ? [q.binSeconds, q.origin.toISOString()] : []),
    ],
  );
  return toRows(parseJsonRows<RawCountRow>(rows), (ms) => new Date(ms).toISOString());
}
