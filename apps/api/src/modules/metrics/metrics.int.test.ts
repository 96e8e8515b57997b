import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { dayOf } from '@tally/domain';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { event, failed, minutesAgo, ndjson, newSource, post } from '../../testing/factories.js';
import { Role } from '../auth/role.js';
import { EXIT, parseImportArgs, runImport } from '../payments/import/import.command.js';

let t: TestApp;
let source: { id: string; key: string };
beforeAll(async () => {
  t = await startTestApp();
  source = await newSource(t);
});
afterAll(() => t.close());

type Update = { key: string; period: { from: string; to: string }; value: number | null; previousValue: number | null; numerator: number; denominator: number | null; at: string };

function subscribe(app: TestApp, token: string, keys: string[], period = 'DAY') {
  const client: Client = createClient({ url: `${app.baseUrl.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
  const updates: Update[] = [];
  const errors: unknown[] = [];
  let notify: (() => void) | undefined;
  const unsubscribe = client.subscribe<{ metricUpdated: Update }>(
    { query: `subscription($k: [String!]!, $p: MetricPeriod!) { metricUpdated(keys: $k, period: $p) { key period { from to } value previousValue numerator denominator at } }`, variables: { k: keys, p: period } },
    {
      next: (v) => {
        if (v.errors) errors.push(v.errors);
        if (v.data) updates.push(v.data.metricUpdated);
        notify?.();
      },
      error: (e) => {
        errors.push(e);
        notify?.();
      },
      complete: () => {},
    },
  );
  return {
    updates,
    errors,
    async waitFor(n: number, ms = 5_000) {
      const until = Date.now() + ms;
      while (updates.length < n && errors.length === 0 && Date.now() < until) {
        await new Promise<void>((r) => {
          notify = r;
          setTimeout(r, 100);
        });
      }
      return updates;
    },
    async close() {
      unsubscribe();
      await client.dispose();
    },
  };
}

describe('metric catalog', () => {
  it('lists the payment metrics and computes a value equal to paymentSuccess', async () => {
    await post(t, source.key, ndjson([event('m1', minutesAgo(30)), failed('m2', minutesAgo(30), 'BANK_TIMEOUT'), event('m3', minutesAgo(30), { direction: 'PAY_OUT' })]));
    const from = minutesAgo(120);
    const to = minutesAgo(-1);
    const r = await t.gql<{ metrics: { key: string; unit: string; value: { value: number; numerator: number; denominator: number | null } }[] }>(
      `query($f: DateTime!, $t: DateTime!) { metrics { key unit value(from: $f, to: $t) { value numerator denominator } } }`,
      { f: from, t: to },
    );
    const byKey = Object.fromEntries(r.data!.metrics.map((m) => [m.key, m]));
    expect(Object.keys(byKey).sort()).toEqual(['payments.pay_in.attempts', 'payments.pay_in.effective_success_rate', 'payments.payout.attempts', 'payments.payout.effective_success_rate']);
    expect(byKey['payments.pay_in.effective_success_rate']!.value).toEqual({ value: 0.5, numerator: 1, denominator: 2 });
    expect(byKey['payments.pay_in.attempts']!.value).toEqual({ value: 2, numerator: 2, denominator: null });
    expect(byKey['payments.payout.effective_success_rate']!.value).toEqual({ value: 1, numerator: 1, denominator: 1 });
    const missing = await t.gql('{ metric(key: "nope") { key } }');
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const series = await t.gql<{ metric: { series: { value: number | null }[] } }>(
      `query($f: DateTime!, $t: DateTime!) { metric(key: "payments.pay_in.attempts") { series(from: $f, to: $t, granularity: HOUR) { value } } }`,
      { f: from, t: to },
    );
    expect(series.data!.metric.series.reduce((n, p) => n + (p.value ?? 0), 0)).toBe(2);
  });
});

describe('metric reads are batched per request', () => {
  const PAY_IN_RATE = 'payments.pay_in.effective_success_rate';
  const PAY_IN_ATTEMPTS = 'payments.pay_in.attempts';
  const PAYOUT_RATE = 'payments.payout.effective_success_rate';
  // A window with whole local days and partial edges, so value and DAY series read both the
  // day and the minute counters.
  const from = minutesAgo(3 * 24 * 60 + 7);
  const to = minutesAgo(-1);
  const FIELDS = 'key value(from: $f, to: $t) { value numerator denominator asOf } series(from: $f, to: $t, granularity: DAY) { from to value numerator denominator }';
  const Q = (selection: string) => `query($f: DateTime!, $t: DateTime!) { ${selection} }`;

  type Value = { value: number | null; numerator: number; denominator: number | null; asOf: string | null };
  type Point = { from: string; to: string; value: number | null; numerator: number; denominator: number | null };
  type MetricRead = { key: string; value: Value; series: Point[] };

  /** The statements one operation sends, and its data. */
  async function measure<T>(selection: string): Promise<{ statements: number; data: T }> {
    t.statements.length = 0;
    const r = await t.gql<T>(Q(selection), { f: from, t: to });
    expect(r.errors).toBeUndefined();
    return { statements: t.statements.length, data: r.data! };
  }

  beforeAll(async () => {
    const at = (min: number) => new Date(Date.now() - min * 60_000);
    await post(
      t,
      source.key,
      ndjson([
        event('batch-1', at(20)),
        failed('batch-2', at(25), 'BANK_TIMEOUT'),
        event('batch-3', at(26 * 60)),
        failed('batch-4', at(50 * 60), 'INSUFFICIENT_BALANCE'),
        event('batch-5', at(30), { direction: 'PAY_OUT' }),
        failed('batch-6', at(49 * 60), 'BANK_TIMEOUT', { direction: 'PAY_OUT' }),
      ]),
    );
  });

  it('sends as many statements for all metrics value and series as for one metric per direction, however many ask', async () => {
    const one = await measure(`metric(key: "${PAY_IN_RATE}") { ${FIELDS} }`);
    const sameDirection = await measure(`a: metric(key: "${PAY_IN_RATE}") { ${FIELDS} } b: metric(key: "${PAY_IN_ATTEMPTS}") { ${FIELDS} }`);
    const oneEachDirection = await measure(`a: metric(key: "${PAY_IN_RATE}") { ${FIELDS} } b: metric(key: "${PAYOUT_RATE}") { ${FIELDS} }`);
    const all = await measure<{ metrics: MetricRead[] }>(`metrics { ${FIELDS} }`);
    const allTwice = await measure(`a: metrics { ${FIELDS} } b: metrics { ${FIELDS} }`);
    expect(all.data.metrics).toHaveLength(4);
    // Rate and attempts of a direction share their reads: a second metric of the same
    // direction costs nothing, all four cost what one of each direction costs, and asking
    // for them twice costs nothing more.
    expect(sameDirection.statements).toBe(one.statements);
    expect(all.statements).toBe(oneEachDirection.statements);
    expect(allTwice.statements).toBe(all.statements);
    // The bound does not depend on the number of metrics: at most the reads of a second direction.
    expect(all.statements).toBeLessThanOrEqual(2 * one.statements);
  });

  it('gives the values of paymentSuccess and paymentSuccessSeries for the same window', async () => {
    const { data } = await measure<{ metrics: MetricRead[] }>(`metrics { ${FIELDS} }`);
    const byKey = new Map(data.metrics.map((m) => [m.key, m]));
    for (const [direction, name] of [
      ['PAY_IN', 'pay_in'],
      ['PAY_OUT', 'payout'],
    ] as const) {
      const r = await t.gql<{
        paymentSuccess: { effectiveRate: number | null; succeeded: number; eligible: number; attempts: number; asOf: string | null };
        paymentSuccessSeries: { from: string; to: string; effectiveRate: number | null; succeeded: number; eligible: number; attempts: number }[];
      }>(
        `query($d: PaymentDirection!, $f: DateTime!, $t: DateTime!) {
           paymentSuccess(direction: $d, from: $f, to: $t) { effectiveRate succeeded eligible attempts asOf }
           paymentSuccessSeries(direction: $d, from: $f, to: $t, granularity: DAY) { from to effectiveRate succeeded eligible attempts } }`,
        { d: direction, f: from, t: to },
      );
      expect(r.errors).toBeUndefined();
      const { paymentSuccess: ps, paymentSuccessSeries: pss } = r.data!;
      expect(ps.attempts).toBeGreaterThan(0);
      expect(pss.length).toBeGreaterThanOrEqual(4);
      const rate = byKey.get(`payments.${name}.effective_success_rate`)!;
      const attempts = byKey.get(`payments.${name}.attempts`)!;
      expect(rate.value).toEqual({ value: ps.effectiveRate, numerator: ps.succeeded, denominator: ps.eligible, asOf: ps.asOf });
      expect(attempts.value).toEqual({ value: ps.attempts, numerator: ps.attempts, denominator: null, asOf: ps.asOf });
      expect(rate.series).toEqual(pss.map((p) => ({ from: p.from, to: p.to, value: p.effectiveRate, numerator: p.succeeded, denominator: p.eligible })));
      expect(attempts.series).toEqual(pss.map((p) => ({ from: p.from, to: p.to, value: p.attempts, numerator: p.attempts, denominator: null })));
    }
  });

  it('still refuses a bad window naming the argument', async () => {
    const r = await t.gql(`{ metrics { key series(from: "2023-01-01T00:00:00Z", to: "2023-01-04T00:00:00Z", granularity: MINUTE) { value } } }`);
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'granularity' });
  });
});

/**
 * Waits out the last seconds of the organisation's day: a test that compares the DAY value
 * before and after an ingest must not straddle local midnight (16:00 UTC in Asia/Shanghai),
 * where the subscription moves on to the new day's value, as it should.
 */
async function clearOfLocalMidnight(seconds = 12): Promise<void> {
  const left = dayOf(new Date(), { timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY' }).endsAt.getTime() - Date.now();
  if (left < seconds * 1000) await new Promise((r) => setTimeout(r, left + 1_000));
}

describe('metricUpdated', () => {
  it('sends the current value at once, then each change with the previous value, coalesced to one a second', async () => {
    await clearOfLocalMidnight();
    const viewer = await t.tokenFor(Role.VIEWER);
    const sub = subscribe(t, viewer, ['payments.pay_in.attempts', 'payments.pay_in.effective_success_rate']);
    const first = await sub.waitFor(2);
    expect(first.map((u) => u.key).sort()).toEqual(['payments.pay_in.attempts', 'payments.pay_in.effective_success_rate']);
    const today = dayOf(new Date(), { timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY' });
    expect(first[0]!.period).toEqual({ from: today.startsAt.toISOString(), to: today.endsAt.toISOString() });
    const attempts0 = first.find((u) => u.key === 'payments.pay_in.attempts')!;
    expect(attempts0.previousValue).toBeNull();

    // Five quick batches: at most one message per key per second.
    const started = Date.now();
    for (let i = 0; i < 5; i++) await post(t, source.key, ndjson([event(`live-${i}`, new Date(Date.now() - 1000))]));
    await new Promise((r) => setTimeout(r, 2_500));
    const later = sub.updates.slice(2).filter((u) => u.key === 'payments.pay_in.attempts');
    expect(later.length).toBeGreaterThanOrEqual(1);
    expect(later.length).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / 1000) + 1);
    const lastUpdate = later[later.length - 1]!;
    expect(lastUpdate.value).toBe(attempts0.value! + 5);
    expect(later[0]!.previousValue).toBe(attempts0.value);
    for (let i = 1; i < later.length; i++) expect(Date.parse(later[i]!.at) - Date.parse(later[i - 1]!.at)).toBeGreaterThanOrEqual(950);

    // A duplicate changes nothing, so nothing is sent.
    const count = sub.updates.length;
    await post(t, source.key, ndjson([event('live-0', new Date(Date.now() - 1000))]));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(sub.updates.length).toBe(count);
    await sub.close();
  });

  it('refuses unknown keys with BAD_USER_INPUT', async () => {
    const sub = subscribe(t, t.adminSecret, ['payments.nope']);
    await sub.waitFor(1, 2_000);
    expect(JSON.stringify(sub.errors)).toContain('BAD_USER_INPUT');
    await sub.close();
  });

  it('tells subscribers of events the file import commits, as the API ingest does', async () => {
    if (t.db.kind === 'embedded' || t.testDb.target.kind === 'embedded') {
      // The embedded database serves one process at a time: the import cannot run beside the API.
      expect(t.db.listen('tally_changes', () => {}, () => {})).toBeNull();
      return;
    }
    await clearOfLocalMidnight();
    const viewer = await t.tokenFor(Role.VIEWER);
    const sub = subscribe(t, viewer, ['payments.pay_in.attempts']);
    const [initial] = await sub.waitFor(1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-import-notify-'));
    try {
      const file = path.join(dir, 'today.ndjson');
      fs.writeFileSync(file, ndjson([event('imported-1', new Date(Date.now() - 1000)), event('imported-2', new Date(Date.now() - 2000))]));
      const quiet = Object.assign(new PassThrough(), { write: () => true });
      const code = await runImport(parseImportArgs(['payment-outcomes', '--source', source.id, file]), t.db, pino({ level: 'silent' }), { stdin: Readable.from(['']), stdout: quiet, stderr: quiet });
      expect(code).toBe(EXIT.OK);
      const got = await sub.waitFor(2, 5_000);
      expect(got[1]).toMatchObject({ key: 'payments.pay_in.attempts', value: initial!.value! + 2, previousValue: initial!.value });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await sub.close();
    }
  });

  it('closes a subscription at once when its token is revoked', async () => {
    const { token, secret } = await t.app.services.auth.createToken({ name: 'soon revoked', role: Role.VIEWER }, null);
    const sub = subscribe(t, secret, ['payments.pay_in.attempts']);
    await sub.waitFor(1);
    const r = await t.gql('mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }', { id: token.id });
    expect(r.errors).toBeUndefined();
    for (let i = 0; i < 50 && sub.errors.length === 0; i++) await new Promise((res) => setTimeout(res, 100));
    expect((sub.errors[0] as { code?: number } | undefined)?.code).toBe(4403);
    // Nothing more reaches it.
    const seen = sub.updates.length;
    await post(t, source.key, ndjson([event('after-revoke', new Date(Date.now() - 1000))]));
    await new Promise((res) => setTimeout(res, 1_500));
    expect(sub.updates.length).toBe(seen);
    await sub.close();
  });

  it('reaches a subscriber on another API process of the same database', async () => {
    if (t.db.kind === 'embedded' || t.testDb.target.kind === 'embedded') {
      // The embedded database serves one process (one session, a pid lock): there are no
      // replicas to reach, and changes travel in-process instead of through LISTEN/NOTIFY.
      expect(t.db.listen('tally_changes', () => {}, () => {})).toBeNull();
      return;
    }
    await clearOfLocalMidnight();
    const replica = await startTestApp({ shareDatabaseWith: t });
    try {
      const viewer = await replica.tokenFor(Role.VIEWER);
      const sub = subscribe(replica, viewer, ['payments.payout.attempts']);
      const [initial] = await sub.waitFor(1);
      // Ingest through the first process; the replica learns of it through the database.
      await new Promise((r) => setTimeout(r, 300));
      await post(t, source.key, ndjson([event('replica-1', new Date(Date.now() - 1000), { direction: 'PAY_OUT' })]));
      const got = await sub.waitFor(2, 5_000);
      expect(got[1]).toMatchObject({ key: 'payments.payout.attempts', value: initial!.value! + 1, previousValue: initial!.value });
      await sub.close();
    } finally {
      await replica.close();
    }
  });
});
