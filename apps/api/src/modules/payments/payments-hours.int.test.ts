import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '@tally/db/testing';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { event, failed, ndjson, newSource, recompute, type EventInput } from '../../testing/factories.js';
import { Role } from '../auth/role.js';
import { importPaymentOutcomes } from './import/payment-import.js';

/*
 * HOUR series follow the organisation's wall-clock hours, also where the clock moves by half an
 * hour: Australia/Lord_Howe is +10:30 in winter and +11 in summer. Every expected boundary is
 * written by hand in UTC from those offsets (no calendar code of the product is used), and every
 * expected figure is recounted from the events sent.
 */

const MINUTE = 60_000;
const HOUR = 3_600_000;
const at = (iso: string) => new Date(iso);

/**
 * 2026-04-05 02:00 +11 → 01:30 +10:30 at 2026-04-04T15:00Z: the 01:00 hour runs 14:00Z–15:30Z
 * (the clock does not land on a whole hour). Local 02:00 (+10:30) is 15:30Z, 03:00 16:30Z…
 */
const APRIL = {
  from: at('2026-04-04T13:00:00Z'),
  to: at('2026-04-04T18:00:00Z'),
  switch: at('2026-04-04T15:00:00Z'),
  starts: ['2026-04-04T14:00:00Z', '2026-04-04T15:30:00Z', '2026-04-04T16:30:00Z', '2026-04-04T17:30:00Z'].map(at),
};
/**
 * 2026-10-04 02:00 +10:30 → 02:30 +11 at 2026-10-03T15:30Z: local 00:00 is 13:30Z, 01:00 14:30Z,
 * 02:00 15:30Z (half an hour long), 03:00 (+11) 16:00Z, 04:00 17:00Z.
 */
const OCTOBER = {
  from: at('2026-10-03T13:00:00Z'),
  to: at('2026-10-03T18:00:00Z'),
  switch: at('2026-10-03T15:30:00Z'),
  starts: ['2026-10-03T13:30:00Z', '2026-10-03T14:30:00Z', '2026-10-03T15:30:00Z', '2026-10-03T16:00:00Z', '2026-10-03T17:00:00Z'].map(at),
};

const USER_CODES = new Set(['INSUFFICIENT_BALANCE']);
const SYSTEM_CODES = new Set(['BANK_TIMEOUT']);
const CODES = ['INSUFFICIENT_BALANCE', 'BANK_TIMEOUT', 'RISK_REJECTED']; // RISK_REJECTED stays unclassified
const CHANNELS = ['alipay', 'unionpay', 'wechat'];

let t: TestApp;
let viewer: string;
const all: EventInput[] = [];

/** `n` events at random instants (with seconds and milliseconds) of `[from, to)`, random direction, channel and outcome. */
function randomEvents(prefix: string, n: number, from: Date, to: Date, seed: number): EventInput[] {
  const rand = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const when = new Date(from.getTime() + Math.floor(rand() * (to.getTime() - from.getTime())));
    const over = { direction: (rand() < 0.7 ? 'PAY_IN' : 'PAY_OUT') as EventInput['direction'], channel: CHANNELS[Math.floor(rand() * CHANNELS.length)]! };
    return rand() < 0.2 ? failed(`${prefix}${i}`, when, CODES[Math.floor(rand() * CODES.length)]!, over) : event(`${prefix}${i}`, when, over);
  });
}

/** Events 1 ms before, at and 1 ms after each instant, in both directions, varied outcomes. */
function around(prefix: string, instants: readonly Date[]): EventInput[] {
  return instants.flatMap((b, i) =>
    [-1, 0, 1].flatMap((d, j) => {
      const when = new Date(b.getTime() + d);
      const channel = CHANNELS[(i + j) % CHANNELS.length]!;
      return [
        event(`${prefix}${i}${d}`, when, { channel }),
        failed(`${prefix}${i}${d}f`, when, CODES[(i + j) % CODES.length]!, { channel, direction: 'PAY_OUT' }),
      ];
    }),
  );
}

/** `[from, to)` cut at the given instants. */
function cut(from: Date, to: Date, starts: readonly Date[]): [Date, Date][] {
  const edges = [from.getTime(), ...starts.map((s) => s.getTime()).filter((s) => s > from.getTime() && s < to.getTime()), to.getTime()];
  return edges.slice(1).map((end, i) => [new Date(edges[i]!), new Date(end)]);
}

type Direction = 'PAY_IN' | 'PAY_OUT';
const FIGS = 'attempts succeeded userFailures systemFailures unclassifiedFailures eligible effectiveRate rawRate';

const expected = (from: Date, to: Date, filter: (e: EventInput) => boolean) => recompute(all, from, to, { user: USER_CODES, system: SYSTEM_CODES }, filter);

function expectedSeries(direction: Direction, pieces: [Date, Date][], grouped: boolean) {
  const from = pieces[0]![0].getTime();
  const to = pieces[pieces.length - 1]![1].getTime();
  const inWindow = all.filter((e) => e.direction === direction && Date.parse(e.occurredAt) >= from && Date.parse(e.occurredAt) < to);
  const channels = grouped ? [...new Set(inWindow.map((e) => e.channel!))].sort() : [null];
  return pieces.flatMap(([f, to]) =>
    channels.map((channel) => ({
      from: f.toISOString(),
      to: to.toISOString(),
      channel,
      ...expected(f, to, (e) => e.direction === direction && (channel === null || e.channel === channel)),
    })),
  );
}

async function hourSeries(direction: Direction, from: Date, to: Date, groupBy: string[] = []) {
  const r = await t.gql<{ paymentSuccessSeries: unknown[] }>(
    `query($d: PaymentDirection!, $f: DateTime!, $t: DateTime!, $b: [SeriesGroup!]) {
       paymentSuccessSeries(direction: $d, from: $f, to: $t, granularity: HOUR, groupBy: $b) { from to channel ${FIGS} } }`,
    { d: direction, f: from.toISOString(), t: to.toISOString(), b: groupBy },
    viewer,
  );
  expect(r.errors).toBeUndefined();
  return r.data!.paymentSuccessSeries;
}

async function expectHours(pieces: [Date, Date][]) {
  const from = pieces[0]![0];
  const to = pieces[pieces.length - 1]![1];
  for (const direction of ['PAY_IN', 'PAY_OUT'] as const) {
    for (const grouped of [false, true]) {
      const got = await hourSeries(direction, from, to, grouped ? ['CHANNEL'] : []);
      expect(got, `HOUR ${direction}${grouped ? ' by channel' : ''} ${from.toISOString()}..${to.toISOString()}`).toEqual(expectedSeries(direction, pieces, grouped));
    }
  }
}

async function setTimeZone(timeZone: string) {
  const r = await t.gql<{ updateSettings: { timeZone: string } }>('mutation($i: UpdateSettingsInput!) { updateSettings(input: $i) { timeZone } }', { i: { timeZone } });
  expect(r.errors).toBeUndefined();
  expect(r.data!.updateSettings.timeZone).toBe(timeZone);
}

const iso = (pieces: [Date, Date][]) => pieces.map(([f, to]) => [f.toISOString(), to.toISOString()]);

beforeAll(async () => {
  t = await startTestApp();
  viewer = await t.tokenFor(Role.VIEWER);
  const events = [
    ...randomEvents('a', 600, at('2026-04-04T10:00:00Z'), at('2026-04-04T21:00:00Z'), 5),
    ...randomEvents('o', 600, at('2026-10-03T10:00:00Z'), at('2026-10-03T21:00:00Z'), 9),
    // Each expected boundary, each offset change and each window end, 1 ms either side.
    ...around('ab', [...APRIL.starts, APRIL.switch, APRIL.from, APRIL.to]),
    ...around('ob', [...OCTOBER.starts, OCTOBER.switch, OCTOBER.from, OCTOBER.to]),
  ];
  // Through the file import: no late-event horizon for these past dates.
  const archive = await newSource(t, 'archive');
  const summary = await importPaymentOutcomes(t.app.services.paymentIngest, archive.id, Readable.from([ndjson(events)]), { format: 'ndjson' });
  expect(summary).toMatchObject({ accepted: events.length, duplicates: 0, rejected: 0 });
  all.push(...events);
  const c = await t.gql('mutation($i: [FailureCodeClassificationInput!]!) { classifyFailureCodes(input: $i) { code } }', {
    i: [...[...USER_CODES].map((code) => ({ code, attribution: 'USER' })), ...[...SYSTEM_CODES].map((code) => ({ code, attribution: 'SYSTEM' }))],
  });
  expect(c.errors).toBeUndefined();
});
afterAll(() => t?.close());

describe('HOUR series across half-hour DST changes (Australia/Lord_Howe)', () => {
  it('keeps whole UTC+8 hours under the default Asia/Shanghai', async () => {
    const pieces = cut(APRIL.from, APRIL.to, [14, 15, 16, 17].map((h) => at(`2026-04-04T${h}:00:00Z`)));
    await expectHours(pieces);
  });

  it('makes the 01:00 hour 1.5 hours long when the clock goes back from 02:00 to 01:30', async () => {
    await setTimeZone('Australia/Lord_Howe');
    try {
      const pieces = cut(APRIL.from, APRIL.to, APRIL.starts);
      expect(iso(pieces)).toEqual([
        ['2026-04-04T13:00:00.000Z', '2026-04-04T14:00:00.000Z'],
        ['2026-04-04T14:00:00.000Z', '2026-04-04T15:30:00.000Z'],
        ['2026-04-04T15:30:00.000Z', '2026-04-04T16:30:00.000Z'],
        ['2026-04-04T16:30:00.000Z', '2026-04-04T17:30:00.000Z'],
        ['2026-04-04T17:30:00.000Z', '2026-04-04T18:00:00.000Z'],
      ]);
      await expectHours(pieces);
      // A window that starts inside the long hour, and one ending on a boundary.
      await expectHours(cut(at('2026-04-04T15:07:00Z'), at('2026-04-04T20:00:00Z'), [...APRIL.starts, at('2026-04-04T18:30:00Z'), at('2026-04-04T19:30:00Z')]));
      await expectHours(cut(at('2026-04-04T10:00:00Z'), at('2026-04-04T15:30:00Z'), [11, 12, 13, 14].map((h) => at(`2026-04-04T${h}:00:00Z`))));

    } finally {
      await setTimeZone('Asia/Shanghai');
    }
  });

  it('makes the 02:00 hour half an hour long when the clock jumps from 02:00 to 02:30', async () => {
    await setTimeZone('Australia/Lord_Howe');
    try {
      const pieces = cut(OCTOBER.from, OCTOBER.to, OCTOBER.starts);
      expect(iso(pieces)).toEqual([
        ['2026-10-03T13:00:00.000Z', '2026-10-03T13:30:00.000Z'],
        ['2026-10-03T13:30:00.000Z', '2026-10-03T14:30:00.000Z'],
        ['2026-10-03T14:30:00.000Z', '2026-10-03T15:30:00.000Z'],
        ['2026-10-03T15:30:00.000Z', '2026-10-03T16:00:00.000Z'],
        ['2026-10-03T16:00:00.000Z', '2026-10-03T17:00:00.000Z'],
        ['2026-10-03T17:00:00.000Z', '2026-10-03T18:00:00.000Z'],
      ]);
      await expectHours(pieces);
      // Away from the change, whole hours at :30 UTC (+10:30) and :00 UTC (+11).
      await expectHours(cut(at('2026-10-03T10:00:00Z'), at('2026-10-03T13:30:00Z'), [10.5, 11.5, 12.5].map((h) => new Date(Date.parse('2026-10-03T00:00:00Z') + h * HOUR))));
      await expectHours(cut(at('2026-10-03T16:00:00Z'), at('2026-10-03T21:00:00Z'), [17, 18, 19, 20].map((h) => at(`2026-10-03T${h}:00:00Z`))));
    } finally {
      await setTimeZone('Asia/Shanghai');
    }
  });

  it('gives the same hours and figures through metric(key) { series(granularity: HOUR) }', async () => {
    await setTimeZone('Australia/Lord_Howe');
    try {
      const from = new Date(APRIL.from.getTime() - 17 * MINUTE);
      const pieces = cut(from, APRIL.to, [at('2026-04-04T13:00:00Z'), ...APRIL.starts]);
      const r = await t.gql<{ metric: { series: unknown[] } }>(
        `query($f: DateTime!, $t: DateTime!) { metric(key: "payments.pay_in.attempts") { series(from: $f, to: $t, granularity: HOUR) { from to value } } }`,
        { f: from.toISOString(), t: APRIL.to.toISOString() },
        viewer,
      );
      expect(r.errors).toBeUndefined();
      expect(r.data!.metric.series).toEqual(
        pieces.map(([f, to]) => ({ from: f.toISOString(), to: to.toISOString(), value: expected(f, to, (e) => e.direction === 'PAY_IN').attempts })),
      );
    } finally {
      await setTimeZone('Asia/Shanghai');
    }
  });
});
