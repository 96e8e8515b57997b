import type { EntityManager } from 'typeorm';
import type { Direction } from './payment-events.repository.js';

/** Summed counters of one time key, channel and failure code ('' = succeeded). */
export interface CountRow {
  /** `YYYY-MM-DD` for day rows; ISO instant of the bin start for minute rows; '' for a total. */
  key: string;
  channel: string;
  failureCode: string;
  events: number;
  lastOccurredAt: Date;
}

interface RawCountRow {
  /** Days since 1970-01-01 (day rows), epoch milliseconds of the bin (minute rows), or null. */
  key: string | number | null;
  channel: string;
  failure_code: string;
  events: string;
  /** Epoch milliseconds (floor), as text. */
  last_occurred_at: string;
}

// Instants and dates cross the wire as numbers: PostgreSQL formats a timestamptz (and
// to_char a date) in the session's zone at about a microsecond a value, and node-postgres
// parses timestamps back with regular expressions; on a 30-day series by channel these were
// most of the read's CPU. Whole milliseconds, truncated as node-postgres does.
const EPOCH_MS = (expr: string) => `floor(extract(epoch FROM ${expr}) * 1000)::int8::text`;

const DAY_MS = 86_400_000;

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
function keyFormatter(key: (k: number) => string): (raw: string | number | null) => string {
  const keys = new Map<number, string>();
  return (raw) => {
    if (raw === null) return '';
    const n = Number(raw);
    let k = keys.get(n);
    if (k === undefined) keys.set(n, (k = key(n)));
    return k;
  };
}

function toRows(raw: RawCountRow[], key: (k: number) => string): CountRow[] {
  const format = keyFormatter(key);
  return raw.map((r) => {
    const k = format(r.key);
    return { key: k, channel: r.channel, failureCode: r.failure_code, events: Number(r.events), lastOccurredAt: new Date(Number(r.last_occurred_at)) };
  });
}

/** Local days `[fromDate, toDate)` of the day table, grouped by day (or not), channel and code. */
export async function readDayCounts(
  m: EntityManager,
  q: { direction: Direction; fromDate: string; toDate: string; channel?: string | null; perDay: boolean },
): Promise<CountRow[]> {
  const key = q.perDay ? `local_date - date '1970-01-01'` : 'NULL::int';
  const raw: RawCountRow[] = await m.query(
    `SELECT ${key} AS key, channel, failure_code, sum(events)::text AS events, ${EPOCH_MS('max(last_occurred_at)')} AS last_occurred_at
       FROM payment_counts_day
      WHERE direction = $1 AND local_date >= $2::date AND local_date < $3::date AND ($4::text IS NULL OR channel = $4)
      GROUP BY 1, 2, 3`,
    [q.direction, q.fromDate, q.toDate, q.channel ?? null],
  );
  return toRows(raw, isoDate);
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

interface RawClassTotalsRow {
  key: string | number | null;
  channel: string | null;
  succeeded: string | null;
  user_failures: string | null;
  system_failures: string | null;
  attempts: string;
  last_occurred_at: string;
}

// Attribution is applied here, at read time, by joining the failure-code catalog in the same
// snapshot: a code missing from it or marked UNCLASSIFIED counts as unclassified. Summing by
// class in the database sends one row per (time key, channel) instead of one per failure code
// too: a 30-day series by channel reads 180 rows instead of ~1,400 (docs/benchmarks.md).
const CLASS_SUMS = `sum(c.events) FILTER (WHERE c.failure_code = '')::text AS succeeded,
       sum(c.events) FILTER (WHERE f.attribution = 'USER')::text AS user_failures,
       sum(c.events) FILTER (WHERE f.attribution = 'SYSTEM')::text AS system_failures,
       sum(c.events)::text AS attempts`;
const JOIN_CODES = `LEFT JOIN failure_codes f ON f.code = c.failure_code AND c.failure_code <> ''`;

function toClassRows(raw: RawClassTotalsRow[], key: (k: number) => string): ClassTotalsRow[] {
  const format = keyFormatter(key);
  return raw.map((r) => {
    const k = format(r.key);
    const succeeded = r.succeeded === null ? 0 : Number(r.succeeded);
    const userFailures = r.user_failures === null ? 0 : Number(r.user_failures);
    const systemFailures = r.system_failures === null ? 0 : Number(r.system_failures);
    return {
      key: k,
      channel: r.channel,
      succeeded,
      userFailures,
      systemFailures,
      unclassifiedFailures: Number(r.attempts) - succeeded - userFailures - systemFailures,
      lastOccurredAt: new Date(Number(r.last_occurred_at)),
    };
  });
}

/**
 * Local days `[fromDate, toDate)` of the day table summed by outcome class, per day (or not)
 * and per channel (or not).
 */
export async function readDayTotals(
  m: EntityManager,
  q: { direction: Direction; fromDate: string; toDate: string; channel?: string | null; perDay: boolean; perChannel: boolean },
): Promise<ClassTotalsRow[]> {
  const key = q.perDay ? `c.local_date - date '1970-01-01'` : 'NULL::int';
  const channel = q.perChannel ? 'c.channel' : 'NULL::text';
  const raw: RawClassTotalsRow[] = await m.query(
    `SELECT ${key} AS key, ${channel} AS channel, ${CLASS_SUMS}, ${EPOCH_MS('max(c.last_occurred_at)')} AS last_occurred_at
       FROM payment_counts_day c ${JOIN_CODES}
      WHERE c.direction = $1 AND c.local_date >= $2::date AND c.local_date < $3::date AND ($4::text IS NULL OR c.channel = $4)
      GROUP BY 1, 2`,
    [q.direction, q.fromDate, q.toDate, q.channel ?? null],
  );
  return toClassRows(raw, isoDate);
}

/**
 * Minute counters inside the given half-open ranges summed by outcome class, in bins of
 * `binSeconds` from `origin` (or one total when null), per channel (or not).
 */
export async function readMinuteTotals(
  m: EntityManager,
  q: { direction: Direction; ranges: readonly { from: Date; to: Date }[]; channel?: string | null; binSeconds: number | null; origin: Date; perChannel: boolean },
): Promise<ClassTotalsRow[]> {
  if (q.ranges.length === 0) return [];
  const bin = q.binSeconds ? `date_bin(make_interval(secs => $5), c.bucket, $6::timestamptz)` : 'NULL::timestamptz';
  const channel = q.perChannel ? 'c.channel' : 'NULL::text';
  const raw: RawClassTotalsRow[] = await m.query(
    `SELECT ${EPOCH_MS('bin')} AS key, channel, succeeded, user_failures, system_failures, attempts, ${EPOCH_MS('last_occurred_at')} AS last_occurred_at
       FROM (SELECT ${bin} AS bin, ${channel} AS channel, ${CLASS_SUMS}, max(c.last_occurred_at) AS last_occurred_at
               FROM payment_counts_minute c
               JOIN unnest($2::timestamptz[], $3::timestamptz[]) AS r(f, t) ON c.bucket >= r.f AND c.bucket < r.t
               ${JOIN_CODES}
              WHERE c.direction = $1 AND ($4::text IS NULL OR c.channel = $4)
              GROUP BY 1, 2) AS g`,
    [
      q.direction,
      q.ranges.map((r) => r.from.toISOString()),
      q.ranges.map((r) => r.to.toISOString()),
      q.channel ?? null,
      ...(q.binSeconds ? [q.binSeconds, q.origin.toISOString()] : []),
    ],
  );
  return toClassRows(raw, (ms) => new Date(ms).toISOString());
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
  const raw: RawCountRow[] = await m.query(
    `SELECT ${EPOCH_MS('bin')} AS key, channel, failure_code, events, ${EPOCH_MS('last_occurred_at')} AS last_occurred_at
       FROM (SELECT ${bin} AS bin, channel, failure_code, sum(events)::text AS events, max(last_occurred_at) AS last_occurred_at
               FROM payment_counts_minute
               JOIN unnest($2::timestamptz[], $3::timestamptz[]) AS r(f, t) ON bucket >= r.f AND bucket < r.t
              WHERE direction = $1 AND ($4::text IS NULL OR channel = $4)
              GROUP BY 1, 2, 3) AS g`,
    [
      q.direction,
      q.ranges.map((r) => r.from.toISOString()),
      q.ranges.map((r) => r.to.toISOString()),
      q.channel ?? null,
      ...(q.binSeconds ? [q.binSeconds, q.origin.toISOString()] : []),
    ],
  );
  return toRows(raw, (ms) => new Date(ms).toISOString());
}
