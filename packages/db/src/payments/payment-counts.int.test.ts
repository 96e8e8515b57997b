import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../database.js';
import { createTestDatabase, resolveTestDatabaseTarget, type TestDatabase } from '../testing/test-database.js';
import { readDayCounts, readDayTotals, readMinuteCounts, readMinuteTotals } from './payment-counts.repository.js';
import { insertPaymentEvents, type PaymentEventRow } from './payment-events.repository.js';
import { classifyFailureCodes } from './failure-codes.repository.js';

// The day reads go out as named (prepared) statements when not in a transaction; PostgreSQL
// switches such a statement to a generic plan after five executions. These tests hold both
// paths, before and after that switch, to a recount of the stored events.

const CHANNELS = ['alipay', 'unionpay', 'wechat'];
const CODES = [null, null, null, 'INSUFFICIENT_FUNDS', 'BANK_TIMEOUT', 'NEW_CODE'];

function events(): PaymentEventRow[] {
  const out: PaymentEventRow[] = [];
  // 20 days from 2024-03-01 (Asia/Shanghai is UTC+8 all year), a few events an hour.
  for (let i = 0; i < 2_000; i++) {
    const t = Date.UTC(2024, 1, 29, 16) + i * 863_000 + (i % 7) * 1_000;
    out.push({
      id: `e${i}`,
      occurredAt: new Date(t),
      direction: i % 5 === 0 ? 'PAY_OUT' : 'PAY_IN',
      channel: CHANNELS[i % CHANNELS.length]!,
      failureCode: CODES[(i * 7) % CODES.length]!,
      amountMinor: null,
      currency: null,
    });
  }
  return out;
}

type Recount = Map<string, { succeeded: number; user: number; system: number; attempts: number }>;

/** Sums by local day and channel (or '*'), straight from payment_events. */
async function recount(db: Database, direction: string, from: string, to: string, channel: string | null): Promise<Recount> {
  const rows: { day: string; channel: string; code: string | null; attribution: string | null; n: number }[] = await db.dataSource.query(
    `SELECT to_char((e.occurred_at AT TIME ZONE 'Asia/Shanghai')::date, 'YYYY-MM-DD') AS day, e.channel, e.failure_code AS code, f.attribution, count(*)::int AS n
       FROM payment_events e LEFT JOIN failure_codes f ON f.code = e.failure_code
      WHERE e.direction = $1 AND (e.occurred_at AT TIME ZONE 'Asia/Shanghai')::date >= $2::date AND (e.occurred_at AT TIME ZONE 'Asia/Shanghai')::date < $3::date
        AND ($4::text IS NULL OR e.channel = $4)
      GROUP BY 1, 2, 3, 4`,
    [direction, from, to, channel],
  );
  const out: Recount = new Map();
  for (const r of rows) {
    for (const k of [`${r.day}|${r.channel}`, `${r.day}|*`]) {
      const s = out.get(k) ?? { succeeded: 0, user: 0, system: 0, attempts: 0 };
      s.attempts += r.n;
      if (r.code === null) s.succeeded += r.n;
      else if (r.attribution === 'USER') s.user += r.n;
      else if (r.attribution === 'SYSTEM') s.system += r.n;
      out.set(k, s);
    }
  }
  return out;
}

describe.each(['postgres', 'embedded'] as const)('day and minute counter reads (%s)', (kind) => {
  let tdb: TestDatabase | null = null;
  let db: Database;
  const statements: string[] = [];

  beforeAll(async () => {
    if (kind === 'postgres') {
      const target = await resolveTestDatabaseTarget();
      tdb = await createTestDatabase(target);
      db = await tdb.open({ onQuery: (sql) => statements.push(sql) });
    } else {
      db = await openDatabase({ dataDir: null, onQuery: (sql) => statements.push(sql) });
    }
    await db.migrate();
    const [{ id }] = await db.dataSource.query(`INSERT INTO sources (name, kind) VALUES ('s', 'PAYMENT_EVENTS') RETURNING id`);
    await db.dataSource.transaction((m) => insertPaymentEvents(m, id, events()));
    await db.dataSource.transaction((m) =>
      classifyFailureCodes(m, [
        { code: 'INSUFFICIENT_FUNDS', attribution: 'USER' },
        { code: 'BANK_TIMEOUT', attribution: 'SYSTEM' },
      ]),
    );
  }, 60_000);

  afterAll(async () => {
    await db?.close();
    await tdb?.drop();
  });

  it('gives the recount\'s figures for every day and channel, in and out of a transaction, before and after a generic plan', async () => {
    const windows = [
      ['2024-03-01', '2024-03-21'],
      ['2024-03-02', '2024-03-09'],
      ['2024-03-05', '2024-03-06'],
      ['2024-02-01', '2024-03-03'],
      ['2024-03-20', '2024-04-30'],
      ['2023-01-01', '2024-01-01'],
      ['2024-03-01', '2024-03-21'],
      ['2024-03-03', '2024-03-17'],
    ] as const;
    let compared = 0;
    for (let round = 0; round < 2; round++) {
      for (const [fromDate, toDate] of windows) {
        for (const channel of [null, 'wechat']) {
          for (const direction of ['PAY_IN', 'PAY_OUT'] as const) {
            const expected = await recount(db, direction, fromDate, toDate, channel);
            const q = { direction, fromDate, toDate, channel, perDay: true, perChannel: true };
            const outside = await readDayTotals(db.dataSource.manager, q);
            const inside = await db.dataSource.transaction((m) => readDayTotals(m, q));
            expect(inside).toEqual(outside);
            const got = new Map(outside.map((r) => [`${r.key}|${r.channel}`, r]));
            expect([...got.keys()].sort()).toEqual([...expected.keys()].filter((k) => !k.endsWith('|*')).sort());
            for (const [k, r] of got) {
              const e = expected.get(k)!;
              expect({ k, succeeded: r.succeeded, user: r.userFailures, system: r.systemFailures, attempts: r.succeeded + r.userFailures + r.systemFailures + r.unclassifiedFailures }).toEqual({
                k,
                succeeded: e.succeeded,
                user: e.user,
                system: e.system,
                attempts: e.attempts,
              });
              compared++;
            }
            // One total of the window, all channels summed.
            const [total] = await readDayTotals(db.dataSource.manager, { ...q, perDay: false, perChannel: false });
            const all = [...expected].filter(([k]) => k.endsWith('|*')).reduce((n, [, v]) => n + v.attempts, 0);
            expect(total ? total.succeeded + total.userFailures + total.systemFailures + total.unclassifiedFailures : 0).toBe(all);
            // By failure code.
            const counts = await readDayCounts(db.dataSource.manager, { direction, fromDate, toDate, channel, perDay: true });
            expect(counts.reduce((n, r) => n + r.events, 0)).toBe(all);
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(100);
    // The named statements are reported like every other (tests count statements with it).
    expect(statements.filter((s) => s.includes('FROM payment_totals_day') || s.includes('FROM payment_counts_day')).length).toBeGreaterThanOrEqual(windows.length * 2 * 2 * 2 * 4);
  }, 60_000);

  it('keeps reading after the pool replaces its connections (PostgreSQL), and prepares nothing in the embedded session', async () => {
    const q = { direction: 'PAY_IN' as const, fromDate: '2024-03-01', toDate: '2024-03-21', channel: null, perDay: true, perChannel: true };
    const before = await readDayTotals(db.dataSource.manager, q);
    expect(before.length).toBeGreaterThan(0);
    if (kind === 'embedded') {
      // One session outlives its socket connections: a name prepared there would be prepared
      // again by the next connection's client and fail (42P05) on every later read.
      for (let i = 0; i < 7; i++) await readDayTotals(db.dataSource.manager, q);
      expect(await db.dataSource.query(`SELECT name FROM pg_prepared_statements`)).toEqual([]);
      return;
    }
    const pool = (db.dataSource.driver as unknown as { master: { connect(): Promise<{ release(err?: Error): void }> } }).master;
    for (let round = 0; round < 3; round++) {
      // Every connection of the pool discarded, as after a failover: the new sessions prepare again.
      const held = await Promise.all(Array.from({ length: 4 }, () => pool.connect()));
      for (const c of held) c.release(new Error('discarded by the test'));
      for (let i = 0; i < 7; i++) expect(await readDayTotals(db.dataSource.manager, q)).toEqual(before);
    }
    // An SQL error in a prepared read leaves the pool usable.
    // (2024-02-30: a day JavaScript rolls over and PostgreSQL refuses.)
    await expect(readDayTotals(db.dataSource.manager, { ...q, fromDate: '2024-02-30' })).rejects.toThrow(/out of range/);
    expect(await readDayTotals(db.dataSource.manager, q)).toEqual(before);
  });

  it('minute reads sum to the same totals as the events of their ranges', async () => {
    const ranges = [
      { from: new Date('2024-03-03T10:17:00Z'), to: new Date('2024-03-03T13:00:00Z') },
      { from: new Date('2024-03-08T00:00:00Z'), to: new Date('2024-03-08T00:45:00Z') },
    ];
    const [{ n }] = await db.dataSource.query(
      `SELECT count(*)::int AS n FROM payment_events WHERE direction = 'PAY_IN' AND ((occurred_at >= $1 AND occurred_at < $2) OR (occurred_at >= $3 AND occurred_at < $4))`,
      [ranges[0]!.from, ranges[0]!.to, ranges[1]!.from, ranges[1]!.to],
    );
    expect(n).toBeGreaterThan(0);
    const totals = await readMinuteTotals(db.dataSource.manager, { direction: 'PAY_IN', ranges, channel: null, binSeconds: 3600, origin: ranges[0]!.from, perChannel: true });
    expect(totals.reduce((s, r) => s + r.succeeded + r.userFailures + r.systemFailures + r.unclassifiedFailures, 0)).toBe(n);
    const bins: { bin: Date; channel: string; n: number }[] = await db.dataSource.query(
      `SELECT date_bin('1 hour', occurred_at, $5::timestamptz) AS bin, channel, count(*)::int AS n FROM payment_events
        WHERE direction = 'PAY_IN' AND ((occurred_at >= $1 AND occurred_at < $2) OR (occurred_at >= $3 AND occurred_at < $4)) GROUP BY 1, 2`,
      [ranges[0]!.from, ranges[0]!.to, ranges[1]!.from, ranges[1]!.to, ranges[0]!.from],
    );
    const byBin = (rows: { key: string; channel: string | null; n: number }[]) => Object.fromEntries(rows.map((r) => [`${r.key}|${r.channel}`, r.n]));
    expect(byBin(totals.map((r) => ({ key: r.key, channel: r.channel, n: r.succeeded + r.userFailures + r.systemFailures + r.unclassifiedFailures })))).toEqual(
      byBin(bins.map((b) => ({ key: new Date(b.bin).toISOString(), channel: b.channel, n: b.n }))),
    );
    const counts = await readMinuteCounts(db.dataSource.manager, { direction: 'PAY_IN', ranges, channel: null, binSeconds: null, origin: ranges[0]!.from });
    expect(counts.every((r) => r.key === '')).toBe(true);
    expect(counts.reduce((s, r) => s + r.events, 0)).toBe(n);
  });

  it('minute reads into bins of unequal length count each minute in the bin that starts last before it', async () => {
    // Local hours of Australia/Lord_Howe (90, 60 and 30 minutes around its DST changes), shifted onto this data.
    const range = { from: new Date('2024-03-03T10:00:00Z'), to: new Date('2024-03-03T14:00:00Z') };
    const binStarts = ['2024-03-03T10:00:00Z', '2024-03-03T11:30:00Z', '2024-03-03T12:30:00Z', '2024-03-03T13:00:00Z', '2024-03-03T13:01:00Z'].map((d) => new Date(d));
    const events: { at: Date; channel: string }[] = await db.dataSource.query(
      `SELECT occurred_at AS at, channel FROM payment_events WHERE direction = 'PAY_IN' AND occurred_at >= $1 AND occurred_at < $2`,
      [range.from, range.to],
    );
    const want: Record<string, number> = {};
    for (const e of events) {
      const start = binStarts.filter((b) => b.getTime() <= new Date(e.at).getTime()).pop()!;
      const k = `${start.toISOString()}|${e.channel}`;
      want[k] = (want[k] ?? 0) + 1;
    }
    expect(Object.keys(want).length).toBeGreaterThan(3);
    const totals = await readMinuteTotals(db.dataSource.manager, { direction: 'PAY_IN', ranges: [range], channel: null, binSeconds: null, origin: range.from, binStarts, perChannel: true });
    expect(Object.fromEntries(totals.map((r) => [`${r.key}|${r.channel}`, r.succeeded + r.userFailures + r.systemFailures + r.unclassifiedFailures]))).toEqual(want);
  });
});
