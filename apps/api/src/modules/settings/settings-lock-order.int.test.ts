import { afterAll, beforeAll, expect, it } from 'vitest';
import { DAY_TOTALS_OF_COUNTS, insertPaymentEvents, type Database } from '@tally/db';
import { paymentEventRow } from '@tally/db/testing';
import { startTestApp, type TestApp } from '../../testing/test-app.js';

// Every session this file opens waits 30 s before PostgreSQL's deadlock check: a wait cycle
// that only the check would break (it reorders the lock queue) stalls that long here, instead
// of the 1 s default that a timing could miss. node-postgres reads PGOPTIONS per connection.
process.env.PGOPTIONS = '-c deadlock_timeout=30s';

let t: TestApp;
/** A connection of its own to watch the others wait (the app's pool is busy waiting). */
let watcher: Database;
beforeAll(async () => {
  t = await startTestApp();
  watcher = await t.testDb.open({ poolSize: 1 });
});
afterAll(async () => {
  await watcher?.close();
  await t?.close();
});


async function waiting(n: number, what: 'relation' | 'any'): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const [{ c }] = await watcher.dataSource.query(
      `SELECT count(*)::int AS c FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND ($1 = 'any' OR wait_event = $1)`,
      [what],
    );
    if (c >= n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`fewer than ${n} sessions waiting for a lock (${what})`);
}

it('a time-zone change, an ingest waiting for it and a classification waiting for that ingest all finish without a stall', async () => {
  const [{ id: src }] = await t.db.dataSource.query(`INSERT INTO sources (name, kind) VALUES ('lock order', 'PAYMENT_EVENTS') RETURNING id`);
  await t.db.dataSource.transaction((m) => insertPaymentEvents(m, src, [paymentEventRow('seed', 'RISK_REJECTED')]));

  // B holds a day counter so the time-zone change (S) stops in its rebuild, holding the settings row.
  const b = t.db.dataSource.createQueryRunner();
  await b.connect();
  await b.startTransaction();
  await b.query(`SELECT 1 FROM payment_counts_day LIMIT 1 FOR UPDATE`);
  const t0 = Date.now();
  const s = t.gql('mutation { updateSettings(input: { timeZone: "Europe/Berlin" }) { timeZone } }');
  await waiting(1, 'any');
  // T1: an ingest, which reads the time zone under a share lock of the settings row: waits for S.
  const t1 = t.db.dataSource.transaction((m) => insertPaymentEvents(m, src, [paymentEventRow('late', 'RISK_REJECTED')]));
  await waiting(2, 'any');
  // C: a classification, which waits for every ingest writing the day totals: waits for T1.
  const c = t.app.services.failureCodes.classify([{ code: 'RISK_REJECTED', attribution: 'SYSTEM' }]);
  await waiting(1, 'relation');
  await b.commitTransaction();
  await b.release();
  const [settings] = await Promise.all([s, t1, c]);
  // S goes on to rebuild the day totals: had it not taken their lock first, it would now queue
  // behind C, which waits for T1, which waits for S.
  expect(Date.now() - t0).toBeLessThan(10_000);
  expect(settings.errors).toBeUndefined();

  const ordered = (from: string) => `SELECT direction, local_date::text, channel, succeeded::text, user_failures::text, system_failures::text, unclassified_failures::text FROM (${from}) AS x ORDER BY 1, 2, 3`;
  const stored = await t.db.dataSource.query(ordered('SELECT * FROM payment_totals_day'));
  expect(stored).toEqual(await t.db.dataSource.query(ordered(DAY_TOTALS_OF_COUNTS())));
  expect(stored).toEqual([{ direction: 'PAY_IN', local_date: '2025-06-02', channel: 'alipay', succeeded: '0', user_failures: '0', system_failures: '2', unclassified_failures: '0' }]);
}, 120_000);
