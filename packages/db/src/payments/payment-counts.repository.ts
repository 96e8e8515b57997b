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

function toRows(raw: RawCountRow[], key: (k: number) => string): CountRow[] {
  const keys = new Map<number, string>();
  return raw.map((r) => {
    let k = '';
    if (r.key !== null) {
      const n = Number(r.key);
      k = keys.get(n) ?? '';
      if (!k) keys.set(n, (k = key(n)));
    }
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
