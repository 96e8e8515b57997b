import type { EntityManager } from 'typeorm';

export type Direction = 'PAY_IN' | 'PAY_OUT';

/** One validated payment outcome as stored. `failureCode` null means SUCCEEDED. */
export interface PaymentEventRow {
  id: string;
  occurredAt: Date;
  direction: Direction;
  channel: string;
  failureCode: string | null;
  amountMinor: number | null;
  currency: string | null;
}

// Buckets are absolute minutes (date_bin from a fixed origin), independent of the session's
// time zone; local days use the organisation's zone read under a lock in the same statement.
const INSERT_EVENTS = `
WITH input AS (
  SELECT * FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[])
    AS t(event_id, occurred_at, direction, channel, failure_code, amount_minor, currency)
), ins AS (
  INSERT INTO payment_events (source_id, event_id, occurred_at, direction, channel, failure_code, amount_minor, currency)
  SELECT $1::uuid, event_id, occurred_at, direction, channel, failure_code, amount_minor, currency FROM input
  ON CONFLICT (source_id, event_id) DO NOTHING
  RETURNING event_id, occurred_at, direction, channel, failure_code
), zone AS (
  SELECT time_zone FROM settings WHERE id = 1 FOR KEY SHARE
), minute AS (
  INSERT INTO payment_counts_minute AS c (direction, bucket, channel, failure_code, source_id, events, last_occurred_at)
  SELECT direction, date_bin('1 minute', occurred_at, timestamptz '2000-01-01 00:00:00+00'), channel,
         coalesce(failure_code, ''), $1::uuid, count(*), max(occurred_at)
  FROM ins GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (direction, bucket, channel, failure_code, source_id) DO UPDATE
    SET events = c.events + excluded.events, last_occurred_at = greatest(c.last_occurred_at, excluded.last_occurred_at)
), day AS (
  INSERT INTO payment_counts_day AS c (direction, local_date, channel, failure_code, source_id, events, last_occurred_at)
  SELECT direction, (occurred_at AT TIME ZONE zone.time_zone)::date, channel,
         coalesce(failure_code, ''), $1::uuid, count(*), max(occurred_at)
  FROM ins CROSS JOIN zone GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (direction, local_date, channel, failure_code, source_id) DO UPDATE
    SET events = c.events + excluded.events, last_occurred_at = greatest(c.last_occurred_at, excluded.last_occurred_at)
), codes AS (
  INSERT INTO failure_codes AS f (code, first_seen_at, last_seen_at, events)
  SELECT failure_code, min(occurred_at), max(occurred_at), count(*) FROM ins
  WHERE failure_code IS NOT NULL GROUP BY 1 ORDER BY 1
  ON CONFLICT (code) DO UPDATE SET
    first_seen_at = least(coalesce(f.first_seen_at, excluded.first_seen_at), excluded.first_seen_at),
    last_seen_at = greatest(coalesce(f.last_seen_at, excluded.last_seen_at), excluded.last_seen_at),
    events = f.events + excluded.events
)
SELECT event_id FROM ins`;

/**
 * Stores the events whose (source, id) is new and adds exactly those to the minute and
 * local-day counters and the failure-code catalog — one statement, in the caller's
 * transaction, so events and counters commit together. Returns the ids inserted; the others
 * were already stored (by an earlier request or a concurrent one that committed first).
 */
export async function insertPaymentEvents(m: EntityManager, sourceId: string, events: readonly PaymentEventRow[]): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const rows: { event_id: string }[] = await m.query(INSERT_EVENTS, [
    sourceId,
    events.map((e) => e.id),
    events.map((e) => e.occurredAt.toISOString()),
    events.map((e) => e.direction),
    events.map((e) => e.channel),
    events.map((e) => e.failureCode),
    events.map((e) => e.amountMinor),
    events.map((e) => e.currency),
  ]);
  return new Set(rows.map((r) => r.event_id));
}

/** The stored versions of some ids of a source, to tell duplicates from conflicts. */
export async function findPaymentEvents(m: EntityManager, sourceId: string, ids: readonly string[]): Promise<Map<string, PaymentEventRow>> {
  if (ids.length === 0) return new Map();
  const rows: {
    event_id: string;
    occurred_at: Date;
    direction: Direction;
    channel: string;
    failure_code: string | null;
    amount_minor: string | null;
    currency: string | null;
  }[] = await m.query(
    `SELECT event_id, occurred_at, direction, channel, failure_code, amount_minor, currency
       FROM payment_events WHERE source_id = $1 AND event_id = ANY($2::text[])`,
    [sourceId, ids],
  );
  return new Map(
    rows.map((r) => [
      r.event_id,
      {
        id: r.event_id,
        occurredAt: r.occurred_at,
        direction: r.direction,
        channel: r.channel,
        failureCode: r.failure_code,
        amountMinor: r.amount_minor === null ? null : Number(r.amount_minor),
        currency: r.currency,
      },
    ]),
  );
}

/** Per-source delivery statistics (by hour) and freshness, in the request's transaction. */
export async function recordIngestOutcome(
  m: EntityManager,
  sourceId: string,
  outcome: { accepted: number; duplicates: number; rejected: number; lastEventAt: Date | null },
): Promise<void> {
  await m.query(
    `WITH s AS (
       UPDATE sources SET last_received_at = now(),
         last_event_at = CASE WHEN $5::timestamptz IS NULL THEN last_event_at
                              ELSE greatest(coalesce(last_event_at, $5::timestamptz), $5::timestamptz) END
       WHERE id = $1
     )
     INSERT INTO source_ingest_stats AS x (source_id, hour, accepted, duplicates, rejected)
     VALUES ($1, date_bin('1 hour', now(), timestamptz '2000-01-01 00:00:00+00'), $2, $3, $4)
     ON CONFLICT (source_id, hour) DO UPDATE SET
       accepted = x.accepted + excluded.accepted,
       duplicates = x.duplicates + excluded.duplicates,
       rejected = x.rejected + excluded.rejected`,
    [sourceId, outcome.accepted, outcome.duplicates, outcome.rejected, outcome.lastEventAt?.toISOString() ?? null],
  );
}

/**
 * Recomputes the local-day counters for a new time zone from the minute counters (minute
 * buckets align with every zone's midnight). Run in the transaction that changes the zone.
 */
export async function rebuildDailyPaymentCounts(m: EntityManager, timeZone: string): Promise<void> {
  await m.query(`DELETE FROM payment_counts_day`);
  await m.query(
    `INSERT INTO payment_counts_day (direction, local_date, channel, failure_code, source_id, events, last_occurred_at)
     SELECT direction, (bucket AT TIME ZONE $1)::date, channel, failure_code, source_id, sum(events), max(last_occurred_at)
     FROM payment_counts_minute GROUP BY 1, 2, 3, 4, 5`,
    [timeZone],
  );
}
