import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../database.js';
import { createTestDatabase, resolveTestDatabaseTarget, type TestDatabase } from '../testing/test-database.js';
import { paymentEventRow, seededRandom } from '../testing/payment-fixtures.js';
import { migrations } from '../migrations/index.js';
import { DAY_TOTALS_OF_COUNTS, repairDayTotals } from './day-totals.js';
import { classifyFailureCodes } from './failure-codes.repository.js';
import { insertNewPaymentEvents, insertPaymentEvents, rebuildDailyPaymentCounts, type PaymentEventRow } from './payment-events.repository.js';

// payment_totals_day is derived from payment_counts_day and the failure-code catalog, kept by
// three writers (day-totals.ts). These tests hold it to a recomputation from the counters and
// to a recount of the stored events, after ingest and classification ran at the same time on
// several connections, through both ingest paths.

const CHANNELS = ['alipay', 'unionpay', 'wechat', 'bank'];
const CODES = ['INSUFFICIENT_FUNDS', 'CHANNEL_TIMEOUT', 'RISK_REJECTED', 'BANK_UNAVAILABLE', 'NEW_CODE'];
const ATTRIBUTIONS = ['USER', 'SYSTEM', 'UNCLASSIFIED'] as const;

/** `count` events over ten days around local midnights, ids `prefix-n`. */
function batch(prefix: string, count: number, rnd: () => number): PaymentEventRow[] {
  const start = Date.UTC(2025, 5, 1, 15, 30); // 23:30 in Asia/Shanghai: days meet inside the batch
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${i}`,
    occurredAt: new Date(start + Math.floor(rnd() * 10 * 86_400_000)),
    direction: rnd() < 0.7 ? 'PAY_IN' : 'PAY_OUT',
    channel: CHANNELS[Math.floor(rnd() * CHANNELS.length)]!,
    failureCode: rnd() < 0.6 ? null : CODES[Math.floor(rnd() * CODES.length)]!,
    amountMinor: null,
    currency: null,
  }));
}

type TotalsRow = { direction: string; d: string; channel: string; succeeded: string; user_failures: string; system_failures: string; unclassified_failures: string; last: string };

const ORDERED = (from: string) => `
  SELECT direction, to_char(local_date, 'YYYY-MM-DD') AS d, channel, succeeded::text, user_failures::text, system_failures::text,
         unclassified_failures::text, last_occurred_at::text AS last
    FROM (${from}) AS t ORDER BY 1, 2, 3`;

/** The stored totals, and what the day counters and the catalog make of them now. */
async function totalsAndRecomputation(db: Database): Promise<[TotalsRow[], TotalsRow[]]> {
  return Promise.all([db.dataSource.query(ORDERED('SELECT * FROM payment_totals_day')), db.dataSource.query(ORDERED(DAY_TOTALS_OF_COUNTS()))]);
}

/** Totals by (direction, local day, channel) straight from payment_events and the catalog. */
async function recount(db: Database): Promise<TotalsRow[]> {
  return db.dataSource.query(
    ORDERED(`SELECT e.direction, (e.occurred_at AT TIME ZONE s.time_zone)::date AS local_date, e.channel,
                    count(*) FILTER (WHERE e.failure_code IS NULL) AS succeeded,
                    count(*) FILTER (WHERE f.attribution = 'USER') AS user_failures,
                    count(*) FILTER (WHERE f.attribution = 'SYSTEM') AS system_failures,
                    count(*) FILTER (WHERE e.failure_code IS NOT NULL AND coalesce(f.attribution, 'UNCLASSIFIED') = 'UNCLASSIFIED') AS unclassified_failures,
                    max(e.occurred_at) AS last_occurred_at
               FROM payment_events e CROSS JOIN settings s LEFT JOIN failure_codes f ON f.code = e.failure_code
              WHERE s.id = 1 GROUP BY 1, 2, 3`),
  );
}

describe('day totals by class (PostgreSQL, concurrent writers)', () => {
  let tdb: TestDatabase;
  let db: Database;
  let sourceId: string;

  beforeAll(async () => {
    const target = await resolveTestDatabaseTarget();
    tdb = await createTestDatabase(target);
    db = await tdb.open({ poolSize: 8 });
    await db.migrate();
    [{ id: sourceId }] = await db.dataSource.query(`INSERT INTO sources (name, kind) VALUES ('s', 'PAYMENT_EVENTS') RETURNING id`);
  }, 60_000);

  afterAll(async () => {
    await db?.close();
    await tdb?.drop();
  });

  it('equal the day counters attributed by the catalog after ingest (both paths, with resends) and classifications ran at the same time', async () => {
    const rnd = seededRandom(20251125);
    let ingested = 0;
    let classifications = 0;
    const ingestWorker = async (w: number) => {
      for (let k = 0; k < 12; k++) {
        const events = batch(`w${w}-b${k}`, 150 + Math.floor(rnd() * 200), rnd);
        // Every third batch is sent again by another worker's id range: duplicates skip.
        const resend = k % 3 === 2 ? batch(`w${(w + 1) % 4}-b${k - 1}`, 100, seededRandom(w * 100 + k)) : [];
        for (let attempt = 1; ; attempt++) {
          try {
            if (w % 2 === 0 && (await insertNewPaymentEvents(db, sourceId, events, { duplicates: 0, rejected: 0 }, null))) {
              // the COPY path took it
            } else {
              await db.dataSource.transaction((m) => insertPaymentEvents(m, sourceId, [...events, ...resend]));
            }
            ingested++;
            break;
          } catch (err) {
            // Concurrent batches with overlapping ids may deadlock with each other in payment_events
            // (as before the day totals existed); the retry must still count each event once.
            const code = (err as { driverError?: { code?: string }; code?: string }).driverError?.code ?? (err as { code?: string }).code;
            if (code !== '40P01' || attempt >= 5) throw err;
          }
        }
      }
    };
    const classifier = async () => {
      for (let k = 0; k < 25; k++) {
        const input = CODES.filter(() => rnd() < 0.5).map((code) => ({ code, attribution: ATTRIBUTIONS[Math.floor(rnd() * 3)]! }));
        // A classification never fails for ingest's sake (no deadlock, no lost update).
        await db.dataSource.transaction((m) => classifyFailureCodes(m, input));
        classifications++;
        await new Promise((r) => setTimeout(r, rnd() * 15));
      }
    };
    await Promise.all([ingestWorker(0), ingestWorker(1), ingestWorker(2), ingestWorker(3), classifier()]);
    expect(ingested).toBe(48);
    expect(classifications).toBe(25);

    const [stored, recomputed] = await totalsAndRecomputation(db);
    expect(stored.length).toBeGreaterThan(60);
    expect(stored).toEqual(recomputed);
    expect(stored).toEqual(await recount(db));
    // Each class was seen: the test exercised every attribution.
    const sum = (k: keyof TotalsRow) => stored.reduce((n, r) => n + Number(r[k]), 0);
    expect([sum('succeeded'), sum('user_failures') + sum('system_failures') + sum('unclassified_failures')].every((n) => n > 0)).toBe(true);
  }, 120_000);

  it('follow a classification that changes nothing, one that repeats a code, and a code classified before it is seen', async () => {
    await db.dataSource.transaction((m) =>
      classifyFailureCodes(m, [
        { code: 'CHANNEL_TIMEOUT', attribution: 'USER' },
        { code: 'CHANNEL_TIMEOUT', attribution: 'SYSTEM' }, // the last one holds
        { code: 'LATER_CODE', attribution: 'USER' },
      ]),
    );
    await db.dataSource.transaction((m) => classifyFailureCodes(m, [{ code: 'CHANNEL_TIMEOUT', attribution: 'SYSTEM' }]));
    await db.dataSource.transaction((m) =>
      insertPaymentEvents(m, sourceId, [{ id: 'later-1', occurredAt: new Date(Date.UTC(2025, 5, 3)), direction: 'PAY_IN', channel: 'alipay', failureCode: 'LATER_CODE', amountMinor: null, currency: null }]),
    );
    const [stored, recomputed] = await totalsAndRecomputation(db);
    expect(stored).toEqual(recomputed);
    expect(stored).toEqual(await recount(db));
    const [{ a }] = await db.dataSource.query(`SELECT attribution AS a FROM failure_codes WHERE code = 'CHANNEL_TIMEOUT'`);
    expect(a).toBe('SYSTEM');
  });

  it('are rebuilt with the day counters for a new time zone', async () => {
    await db.dataSource.transaction(async (m) => {
      await m.query(`UPDATE settings SET time_zone = 'America/New_York' WHERE id = 1`);
      await rebuildDailyPaymentCounts(m, 'America/New_York');
    });
    const [stored, recomputed] = await totalsAndRecomputation(db);
    expect(stored).toEqual(recomputed);
    expect(stored).toEqual(await recount(db));
  });

  it('are filled from the stored counters by the migration that adds them (an upgrade)', async () => {
    const [before] = await totalsAndRecomputation(db);
    // Back to the release before the day totals (reverting the later migrations too), then up again.
    const later = migrations.slice(migrations.findIndex((m) => m.name === 'PaymentDayTotals1764300000000')).map((m) => m.name);
    for (let i = 0; i < later.length; i++) await db.revertLast();
    expect((await db.dataSource.query(`SELECT to_regclass('payment_totals_day') AS t`))[0].t).toBeNull();
    expect(await db.migrate()).toEqual(later);
    const [stored, recomputed] = await totalsAndRecomputation(db);
    expect(stored).toEqual(before);
    expect(stored).toEqual(recomputed);
  });

  it('are checked and rebuilt by repairDayTotals after writers that did not keep them (a release before them, a hand-made UPDATE)', async () => {
    const [before] = await totalsAndRecomputation(db);
    expect(await db.dataSource.transaction((m) => repairDayTotals(m))).toEqual({ rows: before.length, differing: 0 });
    // What an API process of the previous release adds during a rolling upgrade: counters only.
    await db.dataSource.query(
      `INSERT INTO payment_counts_day (direction, local_date, channel, failure_code, source_id, events, last_occurred_at)
       VALUES ('PAY_OUT', '2031-01-01', 'old-release', '', $1, 5, '2031-01-01T00:00:00Z')`,
      [sourceId],
    );
    // And to a day that has totals already: one row stored with other figures.
    const [day] = await db.dataSource.query(`SELECT direction, local_date::text AS d, channel FROM payment_totals_day ORDER BY 1, 2, 3 LIMIT 1`);
    await db.dataSource.query(
      `INSERT INTO payment_counts_day (direction, local_date, channel, failure_code, source_id, events, last_occurred_at)
       VALUES ($1, $2::date, $3, '', $4, 3, $2::date) ON CONFLICT (direction, local_date, channel, failure_code, source_id) DO UPDATE SET events = payment_counts_day.events + 3`,
      [day.direction, day.d, day.channel, sourceId],
    );
    let r = await db.dataSource.transaction((m) => repairDayTotals(m));
    expect(r).toEqual({ rows: before.length + 1, differing: 2 });
    await db.dataSource.query(`UPDATE payment_counts_day SET events = events - 3 WHERE direction = $1 AND local_date = $2::date AND channel = $3 AND failure_code = '' AND source_id = $4`, [
      day.direction,
      day.d,
      day.channel,
      sourceId,
    ]);
    // And an attribution changed by hand: every day and channel with that code differs.
    await db.dataSource.query(`UPDATE failure_codes SET attribution = CASE WHEN attribution = 'USER' THEN 'SYSTEM' ELSE 'USER' END WHERE code = 'RISK_REJECTED'`);
    const [drifted, wanted] = await totalsAndRecomputation(db);
    expect(drifted).not.toEqual(wanted);
    const keysOf = (rows: TotalsRow[]) => new Set(rows.map((x) => JSON.stringify(x)));
    const changed = [...keysOf(wanted)].filter((x) => !keysOf(drifted).has(x)).length;
    r = await db.dataSource.transaction((m) => repairDayTotals(m));
    expect(r.rows).toBe(wanted.length);
    // Every row whose figures differ (the day set back above, every day and channel of the
    // code), each once.
    expect(changed).toBeGreaterThan(10);
    expect(r.differing).toBe(changed);
    const [stored, recomputed] = await totalsAndRecomputation(db);
    expect(stored).toEqual(recomputed);
    expect(stored).toEqual(wanted);
    // The counters without events go again (the next test recounts the events).
    await db.dataSource.query(`DELETE FROM payment_counts_day WHERE channel = 'old-release'`);
    expect((await db.dataSource.transaction((m) => repairDayTotals(m))).differing).toBe(1);
  });

  it('keep ingest and classification from waiting on each other in a cycle (lock order): no stall until the deadlock check', async () => {
    // With deadlock_timeout at 30 s, a wait cycle broken only by PostgreSQL's deadlock check
    // (which reorders the lock queue) would stall every round for 30 s.
    await db.dataSource.query(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET deadlock_timeout = %L', current_database(), '30s'); END $$`);
    const slow = await tdb.open({ poolSize: 6 });
    const raw = await tdb.open({ poolSize: 1 });
    const waiting = async (n: number, type: string) => {
      for (let i = 0; i < 500; i++) {
        const [{ c }] = await raw.dataSource.query(
          `SELECT count(*)::int AS c FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = $1`,
          [type],
        );
        if (c >= n) return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`fewer than ${n} sessions waiting for a ${type} lock`);
    };
    try {
      // Each round: a COPY-path ingest (T2) and a general-path one (T1) wait for the same id,
      // held by a transaction R; a classification queues behind them; R rolls back. When T2
      // wins the id, T1 waits for T2 — and T2, after its COPY, writes the counters.
      for (let round = 0; round < 4; round++) {
        const [{ id: src }] = await slow.dataSource.query(`INSERT INTO sources (name, kind) VALUES ($1, 'PAYMENT_EVENTS') RETURNING id`, [`lock-order-${round}`]);
        const r = slow.dataSource.createQueryRunner();
        await r.connect();
        await r.startTransaction();
        await r.query(
          `INSERT INTO payment_events (source_id, event_id, occurred_at, direction, channel, failure_code) VALUES ($1, 'x', now(), 'PAY_IN', 'alipay', 'RISK_REJECTED')`,
          [src],
        );
        const t0 = Date.now();
        const many = (p: string) => Array.from({ length: 150 }, (_, i) => paymentEventRow(`${p}${i}`, i % 3 ? null : 'RISK_REJECTED'));
        const t2 = insertNewPaymentEvents(slow, src, [paymentEventRow('x', 'RISK_REJECTED'), ...many('copy-')], { duplicates: 0, rejected: 0 }, null);
        const t1 = slow.dataSource.transaction((m) => insertPaymentEvents(m, src, [paymentEventRow('x', 'RISK_REJECTED'), paymentEventRow('general', 'RISK_REJECTED')]));
        await waiting(2, 'transactionid');
        const c = slow.dataSource.transaction((m) => classifyFailureCodes(m, [{ code: 'RISK_REJECTED', attribution: round % 2 ? 'USER' : 'SYSTEM' }]));
        await waiting(1, 'relation');
        await r.rollbackTransaction();
        await r.release();
        await Promise.all([t1, t2, c]);
        expect(Date.now() - t0).toBeLessThan(10_000);
      }
      const [stored, recomputed] = await totalsAndRecomputation(db);
      expect(stored).toEqual(recomputed);
      expect(stored).toEqual(await recount(db));
    } finally {
      await slow.close();
      await raw.close();
    }
  }, 180_000);
});
