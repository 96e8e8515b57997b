import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { dayOf } from '@tally/domain';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { event, failed, minutesAgo, ndjson, newSource, post } from '../../testing/factories.js';
import { Role } from '../auth/role.js';

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

describe('metricUpdated', () => {
  it('sends the current value at once, then each change with the previous value, coalesced to one a second', async () => {
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

  it('reaches a subscriber on another API process of the same database', async () => {
    if (t.db.kind === 'embedded' || t.testDb.target.kind === 'embedded') {
      // The embedded database serves one process (one session, a pid lock): there are no
      // replicas to reach, and changes travel in-process instead of through LISTEN/NOTIFY.
      expect(t.db.listen('tally_changes', () => {}, () => {})).toBeNull();
      return;
    }
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
