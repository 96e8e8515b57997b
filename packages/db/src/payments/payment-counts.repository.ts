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
  key: string | Date | null;
  channel: string;
  failure_code: string;
  events: string;
  last_occurred_at: Date;
}

function toRows(raw: RawCountRow[]): CountRow[] {
  return raw.map((r) => ({
    key: r.key === null ? '' : r.key instanceof Date ? r.key.toISOString() : String(r.key),
    channel: r.channel,
    failureCode: r.failure_code,
    events: Number(r.events),
    lastOccurredAt: r.last_occurred_at,
  }));
}

/** Local days `[fromDate, toDate)` of the day table, grouped by day (or not), channel and code. */
export async function readDayCounts(
  m: EntityManager,
  q: { direction: Direction; fromDate: string; toDate: string; channel?: string | null; perDay: boolean },
): Promise<CountRow[]> {
  const key = q.perDay ? `to_char(local_date, 'YYYY-MM-DD')` : 'NULL';
  const raw: RawCountRow[] = await m.query(
    `SELECT ${key} AS key, channel, failure_code, sum(events)::text AS events, max(last_occurred_at) AS last_occurred_at
       FROM payment_counts_day
      WHERE direction = $1 AND local_date >= $2::date AND local_date < $3::date AND ($4::text IS NULL OR channel = $4)
      GROUP BY 1, 2, 3`,
    [q.direction, q.fromDate, q.toDate, q.channel ?? null],
  );
  return toRows(raw);
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
  const key = q.binSeconds ? `date_bin(make_interval(secs => $5), bucket, $6::timestamptz)` : 'NULL';
  const raw: RawCountRow[] = await m.query(
    `SELECT ${key} AS key, channel, failure_code, sum(events)::text AS events, max(last_occurred_at) AS last_occurred_at
       FROM payment_counts_minute
       JOIN unnest($2::timestamptz[], $3::timestamptz[]) AS r(f, t) ON bucket >= r.f AND bucket < r.t
      WHERE direction = $1 AND ($4::text IS NULL OR channel = $4)
      GROUP BY 1, 2, 3`,
    [
      q.direction,
      q.ranges.map((r) => r.from.toISOString()),
      q.ranges.map((r) => r.to.toISOString()),
      q.channel ?? null,
      ...(q.binSeconds ? [q.binSeconds, q.origin.toISOString()] : []),
    ],
  );
  return toRows(raw);
}
