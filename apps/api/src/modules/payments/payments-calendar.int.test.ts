import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { event, failed, ndjson, newSource, post, recompute, type EventInput } from '../../testing/factories.js';
import { Role } from '../auth/role.js';
import { importPaymentOutcomes } from './import/payment-import.js';

/*
 * Calendar edges of the payment figures: months, weeks and days of the organisation's time
 * zone, and the settings that change figures. Every expected window is written by hand from
 * UTC offsets (no calendar code of the product is used for them), and every expected figure
 * is recomputed from the events themselves.
 */

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Local time in Asia/Shanghai: UTC+8 all year (no DST since 1991). Months are 1-based. */
function sh(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): Date {
  return new Date(Date.UTC(y, mo - 1, d, h - 8, mi, s, ms));
}

/**
 * Local midnight in Europe/Berlin, 2023 only: UTC+1, and UTC+2 (CEST) from the last Sunday of
 * March 01:00 UTC (26 March) to the last Sunday of October 01:00 UTC (29 October).
 */
const CEST_2023 = { from: Date.UTC(2023, 2, 26, 1), to: Date.UTC(2023, 9, 29, 1) };
function berlinMidnight(y: number, mo: number, d: number): Date {
  if (y !== 2023) throw new Error('berlinMidnight knows the 2023 offsets only');
  const asIfUtc = Date.UTC(y, mo - 1, d);
  const summer = asIfUtc - 2 * HOUR; // midnight is never inside a switch hour (02:00/03:00 local)
  return new Date(summer >= CEST_2023.from && summer < CEST_2023.to ? summer : asIfUtc - HOUR);
}

const USER_CODES = new Set(['INSUFFICIENT_BALANCE', 'WRONG_PASSWORD']);
const SYSTEM_CODES = new Set(['BANK_TIMEOUT', 'CHANNEL_DOWN']);
const CODES = [...USER_CODES, ...SYSTEM_CODES, 'RISK_REJECTED']; // RISK_REJECTED stays unclassified
const CHANNELS = ['alipay', 'unionpay', 'wechat'];

let t: TestApp;
let viewer: string;
let gateway: { id: string; key: string };
/** Every event stored by this file (the recomputations read this, whatever the window). */
const all: EventInput[] = [];

/** A deterministic pseudo-random sequence: a failure reproduces. */
function rng(seed: number) {
  return () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
}

/**
 * `n` events spread at random instants (with seconds and milliseconds) of `[from, to)`, none
 * within 5 minutes of an instant of `avoid` (so the edge events there can be spelled out).
 */
function randomEvents(prefix: string, n: number, from: Date, to: Date, seed: number, avoid: readonly Date[] = []): EventInput[] {
  const rand = rng(seed);
  const out: EventInput[] = [];
  for (let i = 0; i < n; i++) {
    const at = new Date(from.getTime() + Math.floor(rand() * (to.getTime() - from.getTime())));
    if (avoid.some((a) => Math.abs(a.getTime() - at.getTime()) < 5 * MINUTE)) {
      continue;
    }
    const over = { direction: (rand() < 0.7 ? 'PAY_IN' : 'PAY_OUT') as EventInput['direction'], channel: CHANNELS[Math.floor(rand() * CHANNELS.length)]! };
    out.push(rand() < 0.15 ? failed(`${prefix}${i}`, at, CODES[Math.floor(rand() * CODES.length)]!, over) : event(`${prefix}${i}`, at, over));
  }
  return out;
}

/** The figures a user would compute by hand from the events of `[from, to)`. */
function expected(from: Date, to: Date, filter: (e: EventInput) => boolean) {
  return recompute(all, from, to, { user: USER_CODES, system: SYSTEM_CODES }, filter);
}

/** `[from, to)` cut at the given boundaries (instants of local period starts): the first and last pieces clipped. */
function cut(from: Date, to: Date, boundaries: readonly Date[]): [Date, Date][] {
  const inside = boundaries.map((b) => b.getTime()).filter((b) => b > from.getTime() && b < to.getTime());
  const edges = [from.getTime(), ...[...new Set(inside)].sort((a, b) => a - b), to.getTime()];
  return edges.slice(1).map((end, i) => [new Date(edges[i]!), new Date(end)]);
}

type Direction = 'PAY_IN' | 'PAY_OUT';

/** The series a user would compute by hand: per piece, and per channel of the window when grouped. */
function expectedSeries(direction: Direction, pieces: [Date, Date][], grouped: boolean) {
  const from = pieces[0]![0];
  const to = pieces[pieces.length - 1]![1];
  const channels = grouped
    ? [...new Set(all.filter((e) => e.direction === direction && Date.parse(e.occurredAt) >= from.getTime() && Date.parse(e.occurredAt) < to.getTime()).map((e) => e.channel!))].sort()
    : [null];
  return pieces.flatMap(([f, t]) =>
    channels.map((channel) => ({
      from: f.toISOString(),
      to: t.toISOString(),
      channel,
      ...expected(f, t, (e) => e.direction === direction && (channel === null || e.channel === channel)),
    })),
  );
}

const FIGS = 'attempts succeeded userFailures systemFailures unclassifiedFailures eligible effectiveRate rawRate';

async function series(direction: Direction, granularity: 'DAY' | 'WEEK' | 'MONTH', from: Date, to: Date, groupBy: string[] = []) {
  const r = await t.gql<{ paymentSuccessSeries: unknown[] }>(
    `query($d: PaymentDirection!, $f: DateTime!, $t: DateTime!, $g: Granularity!, $b: [SeriesGroup!]) {
       paymentSuccessSeries(direction: $d, from: $f, to: $t, granularity: $g, groupBy: $b) { from to channel ${FIGS} } }`,
    { d: direction, f: from.toISOString(), t: to.toISOString(), g: granularity, b: groupBy },
    viewer,
  );
  expect(r.errors).toBeUndefined();
  return r.data!.paymentSuccessSeries;
}

/** Asserts the series of every direction, grouped and not, against the recomputation over `pieces`. */
async function expectSeries(granularity: 'DAY' | 'WEEK' | 'MONTH', pieces: [Date, Date][]) {
  const from = pieces[0]![0];
  const to = pieces[pieces.length - 1]![1];
  for (const direction of ['PAY_IN', 'PAY_OUT'] as const) {
    for (const grouped of [false, true]) {
      const got = await series(direction, granularity, from, to, grouped ? ['CHANNEL'] : []);
      expect(got, `${granularity} ${direction}${grouped ? ' by channel' : ''} ${from.toISOString()}..${to.toISOString()}`).toEqual(expectedSeries(direction, pieces, grouped));
    }
  }
}

interface SettingsFields {
  timeZone: string;
  weekRule: string;
  lowVolumeThreshold: number;
  lateHorizonDays: number;
}

async function updateSettings(input: Partial<SettingsFields>) {
  const r = await t.gql<{ updateSettings: SettingsFields }>(
    'mutation($i: UpdateSettingsInput!) { updateSettings(input: $i) { timeZone weekRule lowVolumeThreshold lateHorizonDays } }',
    { i: input },
  );
  expect(r.errors).toBeUndefined();
  expect(r.data!.updateSettings).toMatchObject(input);
  return r.data!.updateSettings;
}

async function pushAll(events: EventInput[]) {
  for (let i = 0; i < events.length; i += 1_000) {
    const r = await post(t, gateway.key, ndjson(events.slice(i, i + 1_000)));
    expect(r.status).toBe(200);
    expect(r.body.rejected).toEqual([]);
  }
  all.push(...events);
}

// ---------------------------------------------------------------------------------------------
// Data. 2024: Saturday 31 August → Sunday 1 September (month edge) → Monday 2 September
// (week edge), Asia/Shanghai, pushed over HTTP with the horizon widened for the purpose.
// 2023: the two DST switches of Europe/Berlin, backfilled through the file import.
// ---------------------------------------------------------------------------------------------

const MONTH_EDGE = sh(2024, 9, 1); // Sunday 1 September 2024 00:00 local
const WEEK_EDGE = sh(2024, 9, 2); // Monday 2 September 2024 00:00 local
/** A window starting and ending mid-day, across both edges. */
const RAGGED = { from: sh(2024, 8, 21, 10, 0), to: sh(2024, 9, 10, 5, 0) };

const DEFAULTS: SettingsFields = { timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY', lowVolumeThreshold: 100, lateHorizonDays: 35 };

beforeAll(async () => {
  t = await startTestApp();
  viewer = await t.tokenFor(Role.VIEWER);
  const s = await t.gql<{ settings: SettingsFields }>('{ settings { timeZone weekRule lowVolumeThreshold lateHorizonDays } }');
  expect(s.data!.settings).toEqual(DEFAULTS);
  gateway = await newSource(t, 'gateway');

  // Sanity of the hand-written calendar: these are the weekdays the cases rely on.
  expect(new Date(Date.UTC(2024, 8, 1)).getUTCDay()).toBe(0); // 2024-09-01 is a Sunday
  expect(new Date(Date.UTC(2023, 2, 26)).getUTCDay()).toBe(0); // 2023-03-26, last Sunday of March
  expect(new Date(Date.UTC(2023, 9, 29)).getUTCDay()).toBe(0); // 2023-10-29, last Sunday of October

  await updateSettings({ lateHorizonDays: 1_000 });
  try {
    const edges: EventInput[] = [
      // Month edge: the last millisecond of August and the first of September (local).
      event('m-before', new Date(MONTH_EDGE.getTime() - 1), { channel: 'alipay' }),
      failed('m-at', MONTH_EDGE, 'BANK_TIMEOUT', { channel: 'alipay' }),
      // Week edge: Sunday 23:59:59.999 and Monday 00:00 (local).
      failed('w-before', sh(2024, 9, 1, 23, 59, 59, 999), 'RISK_REJECTED', { channel: 'unionpay' }),
      failed('w-at', WEEK_EDGE, 'CHANNEL_DOWN', { channel: 'unionpay' }),
      event('w-at-out', WEEK_EDGE, { direction: 'PAY_OUT', channel: 'wechat' }),
      failed('w-before-out', new Date(WEEK_EDGE.getTime() - 1), 'INSUFFICIENT_BALANCE', { direction: 'PAY_OUT', channel: 'wechat' }),
      // The window's own ends: `from` is in, `to` is out.
      failed('r-from-1ms', new Date(RAGGED.from.getTime() - 1), 'BANK_TIMEOUT', { channel: 'wechat' }),
      event('r-from', RAGGED.from, { channel: 'wechat' }),
      failed('r-to-1ms', new Date(RAGGED.to.getTime() - 1), 'RISK_REJECTED', { channel: 'alipay' }),
      event('r-to', RAGGED.to, { channel: 'alipay' }),
      // A channel seen in one week only: grouped points show it with zeros elsewhere.
      event('rare-1', sh(2024, 8, 27, 12, 0), { channel: 'jdpay' }),
      failed('rare-2', sh(2024, 8, 28, 9, 30, 15), 'BANK_TIMEOUT', { channel: 'jdpay' }),
    ];
    await pushAll([...randomEvents('s', 1_500, sh(2024, 8, 10), sh(2024, 9, 20), 11, [MONTH_EDGE, WEEK_EDGE]), ...edges]);
  } finally {
    await updateSettings({ lateHorizonDays: 35 });
  }

  // 2023 around both DST switches of Berlin, through the file import (no horizon).
  const dst: EventInput[] = [
    ...randomEvents('d', 400, new Date(Date.UTC(2023, 2, 23)), new Date(Date.UTC(2023, 2, 31)), 23),
    ...randomEvents('o', 400, new Date(Date.UTC(2023, 9, 26)), new Date(Date.UTC(2023, 10, 2)), 29),
  ];
  for (const [mo, days] of [
    [3, [24, 25, 26, 27, 28, 29]],
    [10, [27, 28, 29, 30, 31]],
  ] as const) {
    for (const d of days) {
      const b = berlinMidnight(2023, mo, d);
      const s8 = sh(2023, mo, d);
      dst.push(event(`bm-${mo}-${d}`, b, { channel: 'alipay' }), failed(`bm-${mo}-${d}-1ms`, new Date(b.getTime() - 1), 'BANK_TIMEOUT', { channel: 'alipay' }));
      dst.push(failed(`sm-${mo}-${d}`, s8, 'RISK_REJECTED', { channel: 'wechat' }), event(`sm-${mo}-${d}-1ms`, new Date(s8.getTime() - 1), { channel: 'wechat' }));
    }
  }
  dst.push(
    // 26 March: 01:59:59.999 CET is followed by 03:00 CEST.
    failed('spring-before', new Date(Date.UTC(2023, 2, 26, 0, 59, 59, 999)), 'CHANNEL_DOWN', { channel: 'unionpay' }),
    event('spring-after', new Date(Date.UTC(2023, 2, 26, 1)), { channel: 'unionpay' }),
    // 29 October: 02:30 happens twice (CEST, then CET); 23:59:59.999 CET ends the 25-hour day.
    event('autumn-1', new Date(Date.UTC(2023, 9, 29, 0, 30)), { channel: 'unionpay' }),
    failed('autumn-2', new Date(Date.UTC(2023, 9, 29, 1, 30)), 'BANK_TIMEOUT', { channel: 'unionpay' }),
    failed('autumn-last', new Date(Date.UTC(2023, 9, 29, 22, 59, 59, 999)), 'WRONG_PASSWORD', { channel: 'unionpay', direction: 'PAY_OUT' }),
  );
  const archive = await newSource(t, 'archive');
  const summary = await importPaymentOutcomes(t.app.services.paymentIngest, archive.id, Readable.from([ndjson(dst)]), { format: 'ndjson' });
  expect(summary).toMatchObject({ accepted: dst.length, duplicates: 0, rejected: 0 });
  all.push(...dst);

  const c = await t.gql('mutation($i: [FailureCodeClassificationInput!]!) { classifyFailureCodes(input: $i) { code } }', {
    i: [...[...USER_CODES].map((code) => ({ code, attribution: 'USER' })), ...[...SYSTEM_CODES].map((code) => ({ code, attribution: 'SYSTEM' }))],
  });
  expect(c.errors).toBeUndefined();
});
afterAll(() => t?.close());

describe('months and weeks of Asia/Shanghai (week rule FIRST_DAY)', () => {
  it('cuts MONTH series at local month starts, clipped to the window', async () => {
    const pieces = cut(RAGGED.from, RAGGED.to, [sh(2024, 8, 1), sh(2024, 9, 1), sh(2024, 10, 1)]);
    expect(pieces.map(([f, to]) => [f.toISOString(), to.toISOString()])).toEqual([
      ['2024-08-21T02:00:00.000Z', '2024-08-31T16:00:00.000Z'],
      ['2024-08-31T16:00:00.000Z', '2024-09-09T21:00:00.000Z'],
    ]);
    await expectSeries('MONTH', pieces);
    // Whole months, read from the day counters only.
    await expectSeries('MONTH', cut(sh(2024, 8, 1), sh(2024, 10, 1), [sh(2024, 9, 1)]));
  });

  it('cuts WEEK series at local Mondays 00:00, clipped to the window', async () => {
    const mondays = [5, 12, 19, 26].map((d) => sh(2024, 8, d)).concat([2, 9, 16].map((d) => sh(2024, 9, d)));
    for (const m of mondays) expect(new Date(m.getTime() + 8 * HOUR).getUTCDay()).toBe(1);
    const pieces = cut(RAGGED.from, RAGGED.to, mondays);
    expect(pieces.map(([f, to]) => [f.toISOString(), to.toISOString()])).toEqual([
      ['2024-08-21T02:00:00.000Z', '2024-08-25T16:00:00.000Z'],
      ['2024-08-25T16:00:00.000Z', '2024-09-01T16:00:00.000Z'],
      ['2024-09-01T16:00:00.000Z', '2024-09-08T16:00:00.000Z'],
      ['2024-09-08T16:00:00.000Z', '2024-09-09T21:00:00.000Z'],
    ]);
    await expectSeries('WEEK', pieces);
    // Two whole weeks.
    await expectSeries('WEEK', cut(sh(2024, 8, 26), sh(2024, 9, 9), mondays));
  });

  it('places events 1 ms either side of local midnight in the right month and week', async () => {
    // Two minutes across each edge: only the minute counters are read.
    const aroundMonth = cut(new Date(MONTH_EDGE.getTime() - MINUTE), new Date(MONTH_EDGE.getTime() + MINUTE), [MONTH_EDGE]);
    expect(aroundMonth).toHaveLength(2);
    await expectSeries('MONTH', aroundMonth);
    await expectSeries('WEEK', cut(new Date(MONTH_EDGE.getTime() - MINUTE), new Date(MONTH_EDGE.getTime() + MINUTE), [])); // no week edge there
    const aroundWeek = cut(new Date(WEEK_EDGE.getTime() - MINUTE), new Date(WEEK_EDGE.getTime() + MINUTE), [WEEK_EDGE]);
    await expectSeries('WEEK', aroundWeek);
    await expectSeries('MONTH', cut(new Date(WEEK_EDGE.getTime() - MINUTE), new Date(WEEK_EDGE.getTime() + MINUTE), []));

    // Spelled out (no random event lies within 5 minutes of these edges): August holds
    // m-before, September m-at; the week of 26 August holds w-before, the next w-at.
    const pick = (p: unknown) => {
      const { from, to, channel, attempts, succeeded, userFailures, systemFailures, unclassifiedFailures } = p as Record<string, unknown>;
      return { from, to, channel, attempts, succeeded, userFailures, systemFailures, unclassifiedFailures };
    };
    const iso = (d: Date) => d.toISOString();
    expect((await series('PAY_IN', 'MONTH', aroundMonth[0]![0], aroundMonth[1]![1], ['CHANNEL'])).map(pick)).toEqual([
      { from: iso(aroundMonth[0]![0]), to: '2024-08-31T16:00:00.000Z', channel: 'alipay', attempts: 1, succeeded: 1, userFailures: 0, systemFailures: 0, unclassifiedFailures: 0 },
      { from: '2024-08-31T16:00:00.000Z', to: iso(aroundMonth[1]![1]), channel: 'alipay', attempts: 1, succeeded: 0, userFailures: 0, systemFailures: 1, unclassifiedFailures: 0 },
    ]);
    expect((await series('PAY_IN', 'WEEK', aroundWeek[0]![0], aroundWeek[1]![1])).map(pick)).toEqual([
      { from: iso(aroundWeek[0]![0]), to: '2024-09-01T16:00:00.000Z', channel: null, attempts: 1, succeeded: 0, userFailures: 0, systemFailures: 0, unclassifiedFailures: 1 },
      { from: '2024-09-01T16:00:00.000Z', to: iso(aroundWeek[1]![1]), channel: null, attempts: 1, succeeded: 0, userFailures: 0, systemFailures: 1, unclassifiedFailures: 0 },
    ]);
    expect((await series('PAY_OUT', 'WEEK', aroundWeek[0]![0], aroundWeek[1]![1])).map(pick)).toEqual([
      { from: iso(aroundWeek[0]![0]), to: '2024-09-01T16:00:00.000Z', channel: null, attempts: 1, succeeded: 0, userFailures: 1, systemFailures: 0, unclassifiedFailures: 0 },
      { from: '2024-09-01T16:00:00.000Z', to: iso(aroundWeek[1]![1]), channel: null, attempts: 1, succeeded: 1, userFailures: 0, systemFailures: 0, unclassifiedFailures: 0 },
    ]);
  });

  it('keeps the same week boundaries under the ISO 8601 week rule (the rule only numbers weeks)', async () => {
    await updateSettings({ weekRule: 'ISO_8601' });
    try {
      await expectSeries('WEEK', cut(RAGGED.from, RAGGED.to, [sh(2024, 8, 26), sh(2024, 9, 2), sh(2024, 9, 9)]));
    } finally {
      await updateSettings({ weekRule: 'FIRST_DAY' });
    }
  });
});

describe('settings that change figures', () => {
  it('flags lowVolume against the lowVolumeThreshold setting', async () => {
    const from = WEEK_EDGE;
    const to = sh(2024, 9, 9);
    const want = expected(from, to, (e) => e.direction === 'PAY_IN');
    expect(want.eligible).toBeGreaterThan(100); // the default threshold
    const q = async () => {
      const r = await t.gql<{ paymentSuccess: { eligible: number; lowVolume: boolean } }>(
        `query($f: DateTime!, $t: DateTime!) { paymentSuccess(direction: PAY_IN, from: $f, to: $t) { eligible lowVolume } }`,
        { f: from.toISOString(), t: to.toISOString() },
        viewer,
      );
      expect(r.errors).toBeUndefined();
      return r.data!.paymentSuccess;
    };
    expect(await q()).toEqual({ eligible: want.eligible, lowVolume: false });
    try {
      await updateSettings({ lowVolumeThreshold: want.eligible + 1 });
      expect(await q()).toEqual({ eligible: want.eligible, lowVolume: true });
      await updateSettings({ lowVolumeThreshold: want.eligible }); // "below" the threshold: equal is enough
      expect(await q()).toEqual({ eligible: want.eligible, lowVolume: false });

      // A bad value changes nothing, naming the field.
      const bad = await t.gql('mutation { updateSettings(input: { lowVolumeThreshold: -1, lateHorizonDays: 0 }) { lowVolumeThreshold } }');
      expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'lowVolumeThreshold' });
      expect((await t.gql<{ settings: SettingsFields }>('{ settings { timeZone weekRule lowVolumeThreshold lateHorizonDays } }')).data!.settings).toEqual({
        ...DEFAULTS,
        lowVolumeThreshold: want.eligible,
      });
    } finally {
      await updateSettings({ lowVolumeThreshold: 100 });
    }
    expect(await q()).toEqual({ eligible: want.eligible, lowVolume: false });
  });

  it('rejects pushed events older than the lateHorizonDays setting as too_late', async () => {
    const now = Date.now();
    const ago = (days: number) => new Date(now - days * DAY);
    const tooLate = (line: number, id: string) => ({ line, id, field: 'occurredAt', code: 'too_late', reason: expect.stringMatching(/late-event horizon/) });

    // The default horizon (35 days; asserted at the start of the file and restored since).
    const d34 = event('late-34d', ago(34), { channel: 'wechat' });
    const d36 = event('late-36d', ago(36), { channel: 'wechat' });
    const r35 = await post(t, gateway.key, ndjson([d34, d36]));
    expect(r35.body).toEqual({ accepted: 1, duplicates: 0, rejected: [tooLate(2, 'late-36d')], rejectedCount: 1 });
    all.push(d34);

    const d10 = failed('late-10d', ago(10), 'BANK_TIMEOUT', { channel: 'alipay' });
    const d6 = event('late-6d', ago(6), { channel: 'alipay' });
    try {
      await updateSettings({ lateHorizonDays: 7 });
      const r7 = await post(t, gateway.key, ndjson([d10, d6]));
      expect(r7.body).toEqual({ accepted: 1, duplicates: 0, rejected: [tooLate(1, 'late-10d')], rejectedCount: 1 });
      all.push(d6);
      // GraphQL ingest follows the same setting.
      const g7 = await t.gql<{ ingestPaymentOutcomes: unknown }>(
        'mutation($s: ID!, $e: [PaymentOutcomeInput!]!) { ingestPaymentOutcomes(sourceId: $s, events: $e) { accepted duplicates rejected { line id field code } } }',
        { s: gateway.id, e: [d10] },
      );
      expect(g7.data!.ingestPaymentOutcomes).toEqual({ accepted: 0, duplicates: 0, rejected: [{ line: 1, id: 'late-10d', field: 'occurredAt', code: 'too_late' }] });
    } finally {
      await updateSettings({ lateHorizonDays: 35 });
    }
    // The same event, never stored, is accepted once the horizon is 35 days again.
    const again = await post(t, gateway.key, ndjson([d10, d6, d36]));
    expect(again.body).toEqual({ accepted: 1, duplicates: 1, rejected: [tooLate(3, 'late-36d')], rejectedCount: 1 });
    all.push(d10);

    // What was accepted counts, what was rejected does not.
    const from = new Date(Math.floor((now - 40 * DAY) / MINUTE) * MINUTE);
    const to = new Date(Math.ceil((Date.now() + MINUTE) / MINUTE) * MINUTE);
    for (const channel of ['alipay', 'wechat']) {
      const r = await t.gql<{ paymentSuccess: Record<string, unknown> }>(
        `query($f: DateTime!, $t: DateTime!, $c: String) { paymentSuccess(direction: PAY_IN, from: $f, to: $t, channel: $c) { ${FIGS} } }`,
        { f: from.toISOString(), t: to.toISOString(), c: channel },
      );
      expect(r.data!.paymentSuccess).toEqual(expected(from, to, (e) => e.direction === 'PAY_IN' && e.channel === channel));
    }
    expect(expected(from, to, () => true).attempts).toBe(3);
  });
});

describe('time zone change to Europe/Berlin (DST)', () => {
  const shDays = (mo: number, days: number[]) => days.map((d) => sh(2023, mo, d));
  const berlinDays = (mo: number, days: number[]) => days.map((d) => berlinMidnight(2023, mo, d));
  const march = { from: berlinMidnight(2023, 3, 24), to: berlinMidnight(2023, 3, 29) };
  const october = { from: berlinMidnight(2023, 10, 27), to: berlinMidnight(2023, 10, 31) };

  it('moves DAY boundaries to Berlin midnights, with the 23- and 25-hour days, and back', async () => {
    // Before: Shanghai days (24 hours each) over the same windows.
    await expectSeries('DAY', cut(sh(2023, 3, 24), sh(2023, 3, 29), shDays(3, [25, 26, 27, 28])));
    await expectSeries('DAY', cut(march.from, march.to, shDays(3, [24, 25, 26, 27, 28, 29])));

    await updateSettings({ timeZone: 'Europe/Berlin' });
    try {
      const springDays = cut(march.from, march.to, berlinDays(3, [25, 26, 27, 28]));
      expect(springDays.map(([f, to]) => [f.toISOString(), (to.getTime() - f.getTime()) / HOUR])).toEqual([
        ['2023-03-23T23:00:00.000Z', 24],
        ['2023-03-24T23:00:00.000Z', 24],
        ['2023-03-25T23:00:00.000Z', 23], // Sunday 26 March: 02:00 CET jumps to 03:00 CEST
        ['2023-03-26T22:00:00.000Z', 24],
        ['2023-03-27T22:00:00.000Z', 24],
      ]);
      await expectSeries('DAY', springDays);

      const autumnDays = cut(october.from, october.to, berlinDays(10, [28, 29, 30]));
      expect(autumnDays.map(([f, to]) => [f.toISOString(), (to.getTime() - f.getTime()) / HOUR])).toEqual([
        ['2023-10-26T22:00:00.000Z', 24],
        ['2023-10-27T22:00:00.000Z', 24],
        ['2023-10-28T22:00:00.000Z', 25], // Sunday 29 October: 03:00 CEST falls back to 02:00 CET
        ['2023-10-29T23:00:00.000Z', 24],
      ]);
      await expectSeries('DAY', autumnDays);

      // Ragged: from a Shanghai midnight to Berlin noon; the first and last days are clipped.
      const ragged = { from: sh(2023, 3, 25), to: new Date(berlinMidnight(2023, 3, 28).getTime() + 12 * HOUR) };
      const raggedDays = cut(ragged.from, ragged.to, berlinDays(3, [25, 26, 27, 28]));
      expect(raggedDays.map(([f]) => f.toISOString())).toEqual(['2023-03-24T16:00:00.000Z', '2023-03-24T23:00:00.000Z', '2023-03-25T23:00:00.000Z', '2023-03-26T22:00:00.000Z', '2023-03-27T22:00:00.000Z']);
      await expectSeries('DAY', raggedDays);

      // Weeks (Monday 27 March starts at 00:00 CEST) and months follow the zone too.
      await expectSeries('WEEK', cut(berlinMidnight(2023, 3, 20), berlinMidnight(2023, 4, 3), [berlinMidnight(2023, 3, 27)]));
      await expectSeries('MONTH', cut(berlinMidnight(2023, 3, 1), berlinMidnight(2023, 5, 1), [berlinMidnight(2023, 4, 1)]));
      await expectSeries('WEEK', cut(berlinMidnight(2023, 10, 23), berlinMidnight(2023, 11, 6), [berlinMidnight(2023, 10, 30)]));

      // The day counters were rebuilt by Berlin date: an event 1 ms before Berlin midnight
      // counts for the day before, whatever the Shanghai date.
      const rows: { d: string; n: number }[] = await t.db.dataSource.query(
        `SELECT to_char(local_date, 'YYYY-MM-DD') AS d, sum(events)::int AS n FROM payment_counts_day
          WHERE local_date BETWEEN '2023-03-24' AND '2023-03-28' GROUP BY 1 ORDER BY 1`,
      );
      expect(rows).toEqual(
        springDays.map(([f, to], i) => ({ d: `2023-03-${24 + i}`, n: expected(f, to, () => true).attempts })),
      );
    } finally {
      await updateSettings({ timeZone: 'Asia/Shanghai' });
    }
    await expectSeries('DAY', cut(march.from, march.to, shDays(3, [24, 25, 26, 27, 28, 29])));
    await expectSeries('DAY', cut(sh(2023, 10, 27), sh(2023, 10, 31), shDays(10, [28, 29, 30])));
  });
});
