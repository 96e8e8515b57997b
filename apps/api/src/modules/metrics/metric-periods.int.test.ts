import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { event, failed, ndjson, newSource, post, type EventInput } from '../../testing/factories.js';
import { Role } from '../auth/role.js';

/**
 * `metricUpdated` over the longer calendar periods (WEEK, MONTH, YEAR) of the default
 * organisation calendar (Asia/Shanghai, weeks from Monday): the first message is the current
 * period's figure, equal to `paymentSuccess` and `metric.value` over the same window and to a
 * model of what this file ingested; ingestion and reclassification produce new messages, at
 * most one per key per second.
 */

const IN_RATE = 'payments.pay_in.effective_success_rate';
const IN_ATTEMPTS = 'payments.pay_in.attempts';
const OUT_RATE = 'payments.payout.effective_success_rate';
const OUT_ATTEMPTS = 'payments.payout.attempts';
const ALL_KEYS = [IN_RATE, IN_ATTEMPTS, OUT_RATE, OUT_ATTEMPTS];

type Direction = 'PAY_IN' | 'PAY_OUT';
type Attribution = 'USER' | 'SYSTEM' | 'UNCLASSIFIED';
type PeriodKind = 'WEEK' | 'MONTH' | 'YEAR';
const PERIODS: PeriodKind[] = ['WEEK', 'MONTH', 'YEAR'];
const KEY_INFO: Record<string, { direction: Direction; kind: 'rate' | 'attempts' }> = {
  [IN_RATE]: { direction: 'PAY_IN', kind: 'rate' },
  [IN_ATTEMPTS]: { direction: 'PAY_IN', kind: 'attempts' },
  [OUT_RATE]: { direction: 'PAY_OUT', kind: 'rate' },
  [OUT_ATTEMPTS]: { direction: 'PAY_OUT', kind: 'attempts' },
};

// Failure codes of this file: classified before anything subscribes, except LATER, which
// stays UNCLASSIFIED until the reclassification test makes it USER.
const USER_CODE = 'PERIODS_USER_CANCELLED';
const SYSTEM_CODE = 'PERIODS_BANK_DOWN';
const LATER_CODE = 'PERIODS_LATER';

const MINUTE = 60_000;
const DAY = 24 * 3_600_000;
/** Asia/Shanghai is UTC+8 all year (no DST): local midnight is 16:00Z the day before. */
const SHANGHAI = 8 * 3_600_000;

interface Window {
  from: number;
  to: number;
}

/** The current local week (from Monday), month and year, computed by hand. */
function currentPeriods(now = Date.now()): Record<PeriodKind, Window> {
  const local = new Date(now + SHANGHAI); // Shanghai wall clock, read through the UTC getters
  const y = local.getUTCFullYear();
  const m = local.getUTCMonth();
  const today = Date.UTC(y, m, local.getUTCDate()) - SHANGHAI;
  const sinceMonday = (local.getUTCDay() + 6) % 7;
  return {
    WEEK: { from: today - sinceMonday * DAY, to: today + (7 - sinceMonday) * DAY },
    MONTH: { from: Date.UTC(y, m, 1) - SHANGHAI, to: Date.UTC(y, m + 1, 1) - SHANGHAI },
    YEAR: { from: Date.UTC(y, 0, 1) - SHANGHAI, to: Date.UTC(y + 1, 0, 1) - SHANGHAI },
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

type Figure = { value: number | null; numerator: number; denominator: number | null };
type Update = Figure & { key: string; period: { from: string; to: string }; previousValue: number | null; at: string };
type Received = Update & { receivedAt: number };

function subscribe(app: TestApp, token: string, keys: string[], period: PeriodKind) {
  const client: Client = createClient({ url: `${app.baseUrl.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
  const updates: Received[] = [];
  const errors: unknown[] = [];
  const waiters = new Set<() => void>();
  const wakeAll = () => waiters.forEach((w) => w());
  const unsubscribe = client.subscribe<{ metricUpdated: Update }>(
    { query: `subscription($k: [String!]!, $p: MetricPeriod!) { metricUpdated(keys: $k, period: $p) { key period { from to } value previousValue numerator denominator at } }`, variables: { k: keys, p: period } },
    {
      next: (v) => {
        if (v.errors) errors.push(v.errors);
        if (v.data) updates.push({ ...v.data.metricUpdated, receivedAt: Date.now() });
        wakeAll();
      },
      error: (e) => {
        errors.push(e);
        wakeAll();
      },
      complete: () => {},
    },
  );
  const of = (key: string) => updates.filter((u) => u.key === key);
  return {
    updates,
    of,
    last: (key: string) => of(key).at(-1),
    /** Resolves as soon as `done()` holds; fails after `ms` (or on a subscription error) saying what it waited for. */
    async until(what: string, done: () => boolean, ms = 5_000) {
      const deadline = Date.now() + ms;
      while (!done()) {
        if (errors.length) throw new Error(`${period} subscription failed while waiting for ${what}: ${JSON.stringify(errors)}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${period}: timed out after ${ms} ms waiting for ${what}; got ${JSON.stringify(updates)}`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            waiters.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, Math.min(left, 250));
          waiters.add(wake);
        });
      }
    },
    async close() {
      unsubscribe();
      await client.dispose();
    },
  };
}
type Subscription = ReturnType<typeof subscribe>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let t: TestApp;
let source: { id: string; key: string };
let viewer: string;
let periods: Record<PeriodKind, Window>;

// ---- A model of everything this file ingested, the oracle next to the API's own reads ----
const ingested: { at: number; direction: Direction; code: string | null }[] = [];
const attribution = new Map<string, Attribution>();

function modelled(key: string, w: Window): Figure {
  const { direction, kind } = KEY_INFO[key]!;
  let succeeded = 0;
  let eligible = 0;
  let attempts = 0;
  for (const e of ingested) {
    if (e.direction !== direction || e.at < w.from || e.at >= w.to) continue;
    attempts++;
    if (e.code === null) succeeded++;
    if ((e.code === null ? 'SUCCEEDED' : (attribution.get(e.code) ?? 'UNCLASSIFIED')) !== 'USER') eligible++;
  }
  if (kind === 'attempts') return { value: attempts, numerator: attempts, denominator: null };
  return { value: eligible > 0 ? succeeded / eligible : null, numerator: succeeded, denominator: eligible };
}

function countOf(code: string, direction: Direction, w: Window): number {
  return ingested.filter((e) => e.code === code && e.direction === direction && e.at >= w.from && e.at < w.to).length;
}

let seq = 0;
async function push(events: EventInput[]) {
  const r = await post(t, source.key, ndjson(events));
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ accepted: events.length, rejected: [] });
  for (const e of events) ingested.push({ at: Date.parse(e.occurredAt), direction: e.direction ?? 'PAY_IN', code: e.status === 'FAILED' ? e.failureCode! : null });
}
const id = (label: string) => `periods-${label}-${++seq}`;

async function classify(code: string, to: Attribution) {
  const r = await t.gql<{ classifyFailureCodes: { code: string; attribution: string }[] }>(
    'mutation($i: [FailureCodeClassificationInput!]!) { classifyFailureCodes(input: $i) { code attribution } }',
    { i: [{ code, attribution: to }] },
  );
  expect(r.errors).toBeUndefined();
  expect(r.data!.classifyFailureCodes).toEqual([{ code, attribution: to }]);
  attribution.set(code, to);
}

/**
 * Each key's figure over a window as `paymentSuccess` and `metric(key) { value }` give it; they
 * must agree with each other and with the model.
 */
async function figuresOver(w: Window): Promise<Map<string, Figure>> {
  const r = await t.gql<{
    payIn: { effectiveRate: number | null; succeeded: number; eligible: number; attempts: number };
    payOut: { effectiveRate: number | null; succeeded: number; eligible: number; attempts: number };
    metrics: { key: string; value: Figure }[];
  }>(
    `query($f: DateTime!, $t: DateTime!) {
       payIn: paymentSuccess(direction: PAY_IN, from: $f, to: $t) { effectiveRate succeeded eligible attempts }
       payOut: paymentSuccess(direction: PAY_OUT, from: $f, to: $t) { effectiveRate succeeded eligible attempts }
       metrics { key value(from: $f, to: $t) { value numerator denominator } } }`,
    { f: iso(w.from), t: iso(w.to) },
  );
  expect(r.errors).toBeUndefined();
  const byDirection = { PAY_IN: r.data!.payIn, PAY_OUT: r.data!.payOut };
  const out = new Map<string, Figure>();
  for (const key of ALL_KEYS) {
    const { direction, kind } = KEY_INFO[key]!;
    const ps = byDirection[direction];
    const figure: Figure = kind === 'rate' ? { value: ps.effectiveRate, numerator: ps.succeeded, denominator: ps.eligible } : { value: ps.attempts, numerator: ps.attempts, denominator: null };
    expect(r.data!.metrics.find((m) => m.key === key)?.value, `metric(${key}).value`).toEqual(figure);
    expect(figure, `${key} against the model`).toEqual(modelled(key, w));
    out.set(key, figure);
  }
  return out;
}

const figureOf = (u: Update | undefined): Figure | undefined => u && { value: u.value, numerator: u.numerator, denominator: u.denominator };

/** Opens a subscription and waits for its first message of every key. */
async function subscribed(keys: string[], period: PeriodKind): Promise<Subscription> {
  const sub = subscribe(t, viewer, keys, period);
  await sub.until(`the first message of ${keys.join(', ')}`, () => keys.every((k) => sub.of(k).length > 0));
  return sub;
}

beforeAll(async () => {
  // A period that ends while this file runs would (rightly) roll its subscriptions over and
  // move the windows: start after the boundary instead (only ever waits around local midnight).
  const margin = 45_000;
  const nextEnd = Math.min(...Object.values(currentPeriods()).map((w) => w.to));
  if (nextEnd - Date.now() < margin) await sleep(nextEnd - Date.now() + 2_000);

  t = await startTestApp();
  source = await newSource(t);
  viewer = await t.tokenFor(Role.VIEWER);
  periods = currentPeriods();

  // The start of the year may be up to 366 days back: widen the late-event horizon to seed it.
  const s = await t.gql('mutation { updateSettings(input: { lateHorizonDays: 400 }) { lateHorizonDays } }');
  expect(s.errors).toBeUndefined();
  await classify(USER_CODE, 'USER');
  await classify(SYSTEM_CODE, 'SYSTEM');

  // On each period's first instant (inside) and a minute before it (the previous period).
  const seed: EventInput[] = [];
  for (const p of PERIODS) {
    const start = new Date(periods[p].from);
    const before = new Date(periods[p].from - MINUTE);
    seed.push(
      event(id(`${p}-start-ok`), start),
      failed(id(`${p}-start-later`), start, LATER_CODE),
      failed(id(`${p}-start-user`), start, USER_CODE, { direction: 'PAY_OUT' }),
      event(id(`${p}-start-out-ok`), start, { direction: 'PAY_OUT' }),
      event(id(`${p}-before-ok`), before),
      failed(id(`${p}-before-later`), before, LATER_CODE),
      failed(id(`${p}-before-out-later`), before, LATER_CODE, { direction: 'PAY_OUT' }),
      failed(id(`${p}-before-out-system`), before, SYSTEM_CODE, { direction: 'PAY_OUT' }),
    );
  }
  // Now: both directions with every kind of outcome, so every rate is defined in every period.
  const now = new Date(Date.now() - 1_000);
  seed.push(
    event(id('now-ok'), now),
    failed(id('now-later'), now, LATER_CODE),
    failed(id('now-user'), now, USER_CODE),
    failed(id('now-system'), now, SYSTEM_CODE),
    event(id('now-out-ok'), now, { direction: 'PAY_OUT' }),
    failed(id('now-out-later'), now, LATER_CODE, { direction: 'PAY_OUT' }),
    failed(id('now-out-system'), now, SYSTEM_CODE, { direction: 'PAY_OUT' }),
  );
  await push(seed);
});
afterAll(() => t?.close());

describe('metricUpdated over WEEK, MONTH and YEAR', () => {
  it('computes the current week as currentWeek does', async () => {
    const r = await t.gql<{ currentWeek: { startsAt: string; endsAt: string } }>('{ currentWeek { startsAt endsAt } }', undefined, viewer);
    expect(r.data!.currentWeek).toEqual({ startsAt: iso(periods.WEEK.from), endsAt: iso(periods.WEEK.to) });
  });

  it.each(PERIODS)('sends the current %s value of each key first, as paymentSuccess and metric.value give it', async (period) => {
    const expectedWindow =
      period === 'WEEK'
        ? (await t.gql<{ currentWeek: { startsAt: string; endsAt: string } }>('{ currentWeek { startsAt endsAt } }', undefined, viewer)).data!.currentWeek
        : { startsAt: iso(periods[period].from), endsAt: iso(periods[period].to) };
    const sub = await subscribed(ALL_KEYS, period);
    try {
      const first = sub.updates.slice(0, ALL_KEYS.length);
      expect(first.map((u) => u.key).sort()).toEqual([...ALL_KEYS].sort());
      const figures = await figuresOver(periods[period]);
      for (const u of first) {
        expect(u.period, u.key).toEqual({ from: expectedWindow.startsAt, to: expectedWindow.endsAt });
        expect(u.previousValue, u.key).toBeNull();
        expect(figureOf(u), u.key).toEqual(figures.get(u.key));
      }
      // The seeded first instant is inside, the minute before it is not: the rates are defined
      // and the counts are what the model says (the model already excluded the previous period).
      expect(figures.get(IN_RATE)!.value).not.toBeNull();
      expect(figures.get(OUT_RATE)!.value).not.toBeNull();
    } finally {
      await sub.close();
    }
  });

  it('sends each changed key again with its previous value after events arrive, and nothing for an unchanged one', async () => {
    const subs = new Map<PeriodKind, Subscription>();
    try {
      for (const p of PERIODS) subs.set(p, await subscribed(ALL_KEYS, p));
      const before = new Map([...subs].map(([p, s]) => [p, new Map(ALL_KEYS.map((k) => [k, s.last(k)!]))]));

      // A pay-in success and an unclassified pay-in failure change both pay-in figures; a
      // user-caused payout failure changes payout attempts but not the payout effective rate.
      const now = new Date(Date.now() - 1_000);
      await push([event(id('live-ok'), now), failed(id('live-later'), now, LATER_CODE), failed(id('live-out-user'), now, USER_CODE, { direction: 'PAY_OUT' })]);

      const changed = [IN_RATE, IN_ATTEMPTS, OUT_ATTEMPTS];
      for (const [p, sub] of subs) {
        await sub.until(`a second message of ${changed.join(', ')}`, () => changed.every((k) => sub.of(k).length >= 2));
        const figures = await figuresOver(periods[p]);
        for (const key of changed) {
          const [, next, ...more] = sub.of(key);
          const earlier = before.get(p)!.get(key)!;
          expect(more, `${p} ${key}: one message for one batch`).toEqual([]);
          expect(next!.previousValue, `${p} ${key}`).toBe(earlier.value);
          expect(figureOf(next), `${p} ${key}`).toEqual(figures.get(key));
          expect(next!.period, `${p} ${key}`).toEqual(earlier.period);
          expect(Date.parse(next!.at)).toBeGreaterThan(Date.parse(earlier.at));
        }
        expect(figures.get(IN_ATTEMPTS)!.value).toBe(before.get(p)!.get(IN_ATTEMPTS)!.value! + 2);
        expect(figures.get(OUT_ATTEMPTS)!.value).toBe(before.get(p)!.get(OUT_ATTEMPTS)!.value! + 1);
        expect(figures.get(IN_RATE)!.numerator).toBe(before.get(p)!.get(IN_RATE)!.numerator + 1);
        expect(figures.get(IN_RATE)!.denominator).toBe(before.get(p)!.get(IN_RATE)!.denominator! + 2);
        expect(figures.get(OUT_RATE)).toEqual(figureOf(before.get(p)!.get(OUT_RATE)));
      }
      // The unchanged payout rate would have come with the others of the same computation.
      await sleep(200);
      for (const [p, sub] of subs) expect(sub.of(OUT_RATE), `${p}: unchanged ${OUT_RATE}`).toHaveLength(1);
    } finally {
      for (const s of subs.values()) await s.close();
    }
  });

  it('applies a reclassification at read time: the effective denominator drops by the period’s failures of the code', async () => {
    const keys = [IN_RATE, OUT_RATE, IN_ATTEMPTS, OUT_ATTEMPTS];
    const subs = new Map<PeriodKind, Subscription>();
    try {
      for (const p of PERIODS) subs.set(p, await subscribed(keys, p));
      const before = new Map([...subs].map(([p, s]) => [p, new Map(keys.map((k) => [k, s.last(k)!]))]));
      const dropOf = (p: PeriodKind, key: string) => countOf(LATER_CODE, KEY_INFO[key]!.direction, periods[p]);
      // Failures of the code lie in every period, and before each.
      for (const p of PERIODS) for (const key of [IN_RATE, OUT_RATE]) expect(dropOf(p, key), `${p} ${key}`).toBeGreaterThanOrEqual(1);
      expect(countOf(LATER_CODE, 'PAY_IN', { from: 0, to: Date.now() + DAY })).toBeGreaterThan(dropOf('YEAR', IN_RATE));

      await classify(LATER_CODE, 'USER');

      for (const [p, sub] of subs) {
        await sub.until('the effective rates again', () => sub.of(IN_RATE).length >= 2 && sub.of(OUT_RATE).length >= 2);
        const figures = await figuresOver(periods[p]);
        for (const key of [IN_RATE, OUT_RATE]) {
          const earlier = before.get(p)!.get(key)!;
          const [, next, ...more] = sub.of(key);
          expect(more, `${p} ${key}`).toEqual([]);
          expect(next, `${p} ${key}`).toMatchObject({
            previousValue: earlier.value,
            numerator: earlier.numerator,
            denominator: earlier.denominator! - dropOf(p, key),
          });
          expect(figureOf(next), `${p} ${key}`).toEqual(figures.get(key));
        }
      }
      // Attempts count every outcome: unchanged, so not sent again.
      await sleep(200);
      for (const [p, sub] of subs) {
        expect(sub.of(IN_ATTEMPTS), `${p} ${IN_ATTEMPTS}`).toHaveLength(1);
        expect(sub.of(OUT_ATTEMPTS), `${p} ${OUT_ATTEMPTS}`).toHaveLength(1);
      }
    } finally {
      for (const s of subs.values()) await s.close();
    }
  });

  it('coalesces ten quick pushes to at most one message per key per second, the last reflecting all ten', async () => {
    const keys = [IN_ATTEMPTS, IN_RATE];
    const sub = await subscribed(keys, 'MONTH');
    try {
      const initial = new Map(keys.map((k) => [k, sub.last(k)!]));
      // Past the second that follows the first message, the first push is sent at once and the
      // other nine must wait for the next second: the burst spans both cases.
      await sleep(Math.max(0, Math.max(...[...initial.values()].map((u) => u.receivedAt)) + 1_100 - Date.now()));
      const started = Date.now();
      for (let i = 0; i < 10; i++) {
        const at = new Date(Date.now() - 1_000);
        await push([i % 3 === 2 ? failed(id(`burst-${i}`), at, SYSTEM_CODE) : event(id(`burst-${i}`), at)]);
      }
      const pushedFor = Date.now() - started;
      const target = initial.get(IN_ATTEMPTS)!.value! + 10;
      await sub.until(`${IN_ATTEMPTS} = ${target}`, () => sub.last(IN_ATTEMPTS)?.value === target);
      await sub.until(`the ${IN_RATE} of the same computation`, () => sub.last(IN_RATE)!.at === sub.last(IN_ATTEMPTS)!.at, 1_000);
      // Nothing changes any more, so nothing more may come.
      await sleep(1_200);

      const figures = await figuresOver(periods.MONTH);
      for (const key of keys) {
        const later = sub.of(key).slice(1);
        expect(later.length, key).toBeGreaterThanOrEqual(1);
        // The documented limit: one per key per second, so at most two in the second of the burst…
        const inFirstSecond = later.filter((u) => u.receivedAt < started + 1_000);
        expect(inFirstSecond.length, `${key} in the first second`).toBeLessThanOrEqual(2);
        expect(later.length, `${key} while pushing for ${pushedFor} ms`).toBeLessThanOrEqual(Math.ceil(pushedFor / 1_000) + 1);
        // …and, between any two computations, a second.
        const all = sub.of(key);
        for (let i = 1; i < all.length; i++) {
          expect(Date.parse(all[i]!.at) - Date.parse(all[i - 1]!.at), `${key} message ${i}`).toBeGreaterThanOrEqual(990);
          expect(all[i]!.previousValue, `${key} message ${i}`).toBe(all[i - 1]!.value);
        }
        expect(figureOf(all.at(-1)), `${key}: the last message reflects all ten`).toEqual(figures.get(key));
      }
      expect(figures.get(IN_RATE)!.numerator).toBe(initial.get(IN_RATE)!.numerator + 7);
      expect(figures.get(IN_RATE)!.denominator).toBe(initial.get(IN_RATE)!.denominator! + 10);
    } finally {
      await sub.close();
    }
  });
});
