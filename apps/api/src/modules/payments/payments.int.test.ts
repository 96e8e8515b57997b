import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dayOf, weekOfInstant } from '@tally/domain';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { event, failed, ndjson, newSource, post, recompute, type EventInput } from '../../testing/factories.js';
import { Role } from '../auth/role.js';

const SH = { timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY' as const };
const CODES = ['INSUFFICIENT_BALANCE', 'BANK_TIMEOUT', 'CHANNEL_DOWN', 'WRONG_PASSWORD', 'RISK_REJECTED'];
const USER_CODES = new Set(['INSUFFICIENT_BALANCE', 'WRONG_PASSWORD']);
const SYSTEM_CODES = new Set(['BANK_TIMEOUT', 'CHANNEL_DOWN']); // RISK_REJECTED stays unclassified

let t: TestApp;
let viewer: string;
const all: EventInput[] = [];
// Three local days ending at today's local midnight, so every event is well inside the horizon.
const today = dayOf(new Date(), SH);
const day0 = new Date(today.startsAt.getTime() - 3 * 86_400_000);

/** A deterministic pseudo-random sequence: the data differs per case but a failure reproduces. */
function rng(seed: number) {
  return () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
}

/** The figures a user would compute by hand from the events themselves. */
function expected(events: readonly EventInput[], from: Date, to: Date, filter: (e: EventInput) => boolean = () => true) {
  return recompute(events, from, to, { user: USER_CODES, system: SYSTEM_CODES }, filter);
}

beforeAll(async () => {
  t = await startTestApp();
  viewer = await t.tokenFor(Role.VIEWER);
  const a = await newSource(t, 'gateway-a');
  const b = await newSource(t, 'gateway-b');
  const rand = rng(7);
  const channels = ['unionpay', 'alipay', 'wechat'];
  for (let i = 0; i < 3_000; i++) {
    const at = new Date(day0.getTime() + Math.floor(rand() * 3 * 86_400_000));
    const f = rand();
    const over = { direction: (rand() < 0.7 ? 'PAY_IN' : 'PAY_OUT') as EventInput['direction'], channel: channels[Math.floor(rand() * 3)]! };
    all.push(f < 0.06 ? failed(`e${i}`, at, CODES[Math.floor(rand() * CODES.length)]!, over) : event(`e${i}`, at, over));
  }
  // Calendar edges: the last millisecond of a local day and the first of the next.
  const midnight = new Date(day0.getTime() + 86_400_000);
  all.push(event('edge-before', new Date(midnight.getTime() - 1), { channel: 'unionpay' }));
  all.push(failed('edge-after', midnight, 'BANK_TIMEOUT', { channel: 'unionpay' }));
  // Two sources; ids may repeat across sources (unique within a source only).
  const forA = all.filter((_, i) => i % 2 === 0);
  const forB = all.filter((_, i) => i % 2 === 1);
  for (const [s, evs] of [
    [a, forA],
    [b, forB],
  ] as const) {
    for (let i = 0; i < evs.length; i += 700) {
      const r = await post(t, s.key, ndjson(evs.slice(i, i + 700)));
      expect(r.body.rejected).toEqual([]);
    }
    // A resend of a whole batch changes nothing.
    expect((await post(t, s.key, ndjson(evs.slice(0, 300)))).body).toMatchObject({ accepted: 0, duplicates: 300 });
  }
  const c = await t.gql('mutation($i: [FailureCodeClassificationInput!]!) { classifyFailureCodes(input: $i) { code } }', {
    i: [...[...USER_CODES].map((code) => ({ code, attribution: 'USER' })), ...[...SYSTEM_CODES].map((code) => ({ code, attribution: 'SYSTEM', description: 'bank side' }))],
  });
  expect(c.errors).toBeUndefined();
});
afterAll(() => t.close());

const FIGS = 'attempts succeeded userFailures systemFailures unclassifiedFailures eligible effectiveRate rawRate';

describe('paymentSuccess', () => {
  it('equals a recomputation from the events, for windows that cut days anywhere', async () => {
    const windows: [Date, Date][] = [
      [day0, new Date(day0.getTime() + 3 * 86_400_000)], // three whole local days
      [new Date(day0.getTime() + 5 * 3_600_000 + 17 * 60_000), new Date(day0.getTime() + 50 * 3_600_000 + 3 * 60_000)], // ragged
      [new Date(day0.getTime() + 86_400_000 - 60_000), new Date(day0.getTime() + 86_400_000 + 60_000)], // across midnight
    ];
    for (const [from, to] of windows) {
      for (const direction of ['PAY_IN', 'PAY_OUT'] as const) {
        const r = await t.gql<{ paymentSuccess: Record<string, number | null> & { previous: Record<string, number | null>; effectiveRateDelta: number | null } }>(
          `query($d: PaymentDirection!, $f: DateTime!, $t: DateTime!) { paymentSuccess(direction: $d, from: $f, to: $t) { ${FIGS} previous { ${FIGS} } effectiveRateDelta } }`,
          { d: direction, f: from.toISOString(), t: to.toISOString() },
          viewer,
        );
        expect(r.errors).toBeUndefined();
        const got = r.data!.paymentSuccess;
        const want = expected(all, from, to, (e) => e.direction === direction);
        expect({ ...got, previous: undefined, effectiveRateDelta: undefined }).toEqual({ ...want, previous: undefined, effectiveRateDelta: undefined });
        const span = to.getTime() - from.getTime();
        const prev = expected(all, new Date(from.getTime() - span), from, (e) => e.direction === direction);
        expect(got.previous).toEqual(prev);
        if (want.effectiveRate !== null && prev.effectiveRate !== null) expect(got.effectiveRateDelta).toBeCloseTo((want.effectiveRate - prev.effectiveRate) * 100, 10);
      }
    }
  });

  it('filters by channel, reports asOf and low volume', async () => {
    const from = day0;
    const to = new Date(day0.getTime() + 86_400_000);
    const r = await t.gql<{ paymentSuccess: { attempts: number; asOf: string; lowVolume: boolean; eligible: number } }>(
      `query($f: DateTime!, $t: DateTime!) { paymentSuccess(direction: PAY_IN, from: $f, to: $t, channel: "alipay") { attempts eligible asOf lowVolume } }`,
      { f: from.toISOString(), t: to.toISOString() },
    );
    const inWin = all.filter((e) => e.direction === 'PAY_IN' && e.channel === 'alipay' && Date.parse(e.occurredAt) >= from.getTime() && Date.parse(e.occurredAt) < to.getTime());
    expect(r.data!.paymentSuccess.attempts).toBe(inWin.length);
    expect(r.data!.paymentSuccess.asOf).toBe(new Date(Math.max(...inWin.map((e) => Date.parse(e.occurredAt)))).toISOString());
    expect(r.data!.paymentSuccess.lowVolume).toBe(r.data!.paymentSuccess.eligible < 100);

    const empty = await t.gql<{ paymentSuccess: { attempts: number; effectiveRate: null; asOf: null; lowVolume: boolean } }>(
      `{ paymentSuccess(direction: PAY_IN, from: "2020-01-01T00:00:00Z", to: "2020-01-02T00:00:00Z") { attempts effectiveRate asOf lowVolume } }`,
    );
    expect(empty.data!.paymentSuccess).toEqual({ attempts: 0, effectiveRate: null, asOf: null, lowVolume: true });
  });

  it('names the argument for windows that are not whole minutes or run backwards', async () => {
    const r = await t.gql(`{ paymentSuccess(direction: PAY_IN, from: "2023-01-09T00:00:30Z", to: "2023-01-10T00:00:00Z") { attempts } }`);
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'from' });
    const back = await t.gql(`{ paymentSuccess(direction: PAY_IN, from: "2023-01-10T00:00:00Z", to: "2023-01-09T00:00:00Z") { attempts } }`);
    expect(back.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'to' });
    const bad = await t.gql(`{ paymentSuccess(direction: SIDEWAYS, from: "2023-01-10T00:00:00Z", to: "2023-01-09T00:00:00Z") { attempts } }`);
    expect(bad.errors?.[0]?.extensions?.code).toMatch(/BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED/);
  });

  it('answers "everything" windows up to 9999, their previous window starting no earlier than 1900', async () => {
    const figs = 'attempts from to';
    const everything = await t.gql<{ paymentSuccess: { attempts: number; previous: { attempts: number; from: string; to: string } } }>(
      `{ paymentSuccess(direction: PAY_IN, from: "2000-01-01T00:00:00Z", to: "9999-12-31T00:00:00Z") { attempts previous { ${figs} } } }`,
    );
    expect(everything.errors).toBeUndefined();
    const pays = expected(all, new Date('2000-01-01T00:00:00Z'), new Date('9999-12-31T00:00:00Z'), (e) => e.direction === 'PAY_IN');
    expect(pays.attempts).toBeGreaterThan(0);
    expect(everything.data!.paymentSuccess.attempts).toBe(pays.attempts);
    expect(everything.data!.paymentSuccess.previous).toEqual({ attempts: 0, from: '1900-01-01T00:00:00.000Z', to: '2000-01-01T00:00:00.000Z' });
    const first = await t.gql<{ paymentSuccess: { previous: { attempts: number; from: string; to: string } } }>(
      `{ paymentSuccess(direction: PAY_IN, from: "1900-01-01T00:00:00Z", to: "2030-01-01T00:00:00Z") { previous { ${figs} } } }`,
    );
    expect(first.errors).toBeUndefined();
    expect(first.data!.paymentSuccess.previous).toEqual({ attempts: 0, from: '1900-01-01T00:00:00.000Z', to: '1900-01-01T00:00:00.000Z' });
    for (const [from, to, field] of [
      ['2020-01-01T00:00:00Z', '9999-12-31T23:59:00Z', 'to'],
      ['1899-12-31T23:59:00Z', '2020-01-01T00:00:00Z', 'from'],
    ]) {
      const r = await t.gql(`{ paymentSuccess(direction: PAY_IN, from: "${from}", to: "${to}") { attempts } }`);
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(r.errors?.[0]?.message).toContain('is outside 1900-01-01T00:00:00.000Z … 9999-12-31T00:00:00.000Z');
    }
  });
});

type Point = Record<string, number | null> & { from: string; to: string; channel: string | null };

describe('paymentSuccessSeries', () => {
  async function series(granularity: string, from: Date, to: Date, groupBy: string[] = []) {
    const r = await t.gql<{ paymentSuccessSeries: Point[] }>(
      `query($f: DateTime!, $t: DateTime!, $g: Granularity!, $b: [SeriesGroup!]) { paymentSuccessSeries(direction: PAY_IN, from: $f, to: $t, granularity: $g, groupBy: $b) { from to channel ${FIGS} } }`,
      { f: from.toISOString(), t: to.toISOString(), g: granularity, b: groupBy },
      viewer,
    );
    expect(r.errors).toBeUndefined();
    return r.data!.paymentSuccessSeries;
  }

  function check(points: Point[]) {
    for (const p of points) {
      const want = expected(all, new Date(p.from), new Date(p.to), (e) => e.direction === 'PAY_IN' && (p.channel === null || e.channel === p.channel));
      const { from: _f, to: _t, channel: _c, ...got } = p;
      expect(got).toEqual(want);
    }
  }

  it('gives local days by channel that each equal a recomputation', async () => {
    const from = new Date(day0.getTime() + 7 * 3_600_000); // starts mid-day: the first point is clipped
    const to = new Date(day0.getTime() + 3 * 86_400_000);
    const pts = await series('DAY', from, to, ['CHANNEL']);
    expect(pts).toHaveLength(3 * 3);
    expect(pts[0]!.from).toBe(from.toISOString());
    expect(new Set(pts.map((p) => p.channel))).toEqual(new Set(['alipay', 'unionpay', 'wechat']));
    check(pts);
  });

  it('gives hours, minutes and weeks aligned to the calendar', async () => {
    const hours = await series('HOUR', day0, new Date(day0.getTime() + 30 * 3_600_000));
    expect(hours).toHaveLength(30);
    check(hours);
    const minutes = await series('MINUTE', new Date(day0.getTime() + 86_400_000 - 5 * 60_000), new Date(day0.getTime() + 86_400_000 + 5 * 60_000));
    expect(minutes).toHaveLength(10);
    check(minutes);
    const weeks = await series('WEEK', day0, new Date(day0.getTime() + 3 * 86_400_000));
    const week = weekOfInstant(day0, SH);
    expect(weeks[0]!.to).toBe(new Date(Math.min(week.endsAt.getTime(), day0.getTime() + 3 * 86_400_000)).toISOString());
    check(weeks);
  });

  it('refuses MINUTE past 48 hours naming the argument', async () => {
    const r = await t.gql(`{ paymentSuccessSeries(direction: PAY_IN, from: "2023-01-01T00:00:00Z", to: "2023-01-04T00:00:00Z", granularity: MINUTE) { from } }`);
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'granularity' });
  });

  it('counts grouped points against the 5,000-point limit', async () => {
    const from = day0.toISOString();
    const to = new Date(day0.getTime() + 48 * 3_600_000).toISOString();
    const q = (groupBy: string) =>
      t.gql<{ paymentSuccessSeries: unknown[] }>(`{ paymentSuccessSeries(direction: PAY_IN, from: "${from}", to: "${to}", granularity: MINUTE, groupBy: [${groupBy}]) { from } }`);
    expect((await q('')).data?.paymentSuccessSeries).toHaveLength(2880);
    const grouped = await q('CHANNEL'); // 2,880 minutes × 3 channels
    expect(grouped.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'groupBy' });
    expect(grouped.errors?.[0]?.message).toMatch(/2880 MINUTE points × 3 channels exceed 5000/);
  });

  it('sends the same number of SQL statements whatever the points or channels', async () => {
    const runs: number[] = [];
    for (const [days, groupBy] of [
      [1, []],
      [3, ['CHANNEL']],
    ] as const) {
      t.statements.length = 0;
      await series('HOUR', day0, new Date(day0.getTime() + days * 86_400_000), [...groupBy]);
      runs.push(t.statements.length);
      t.statements.length = 0;
      await series('DAY', day0, new Date(day0.getTime() + days * 86_400_000 + 3_600_000), [...groupBy]);
      runs.push(t.statements.length);
    }
    expect(runs[0]).toBe(runs[2]);
    expect(runs[1]).toBe(runs[3]);
    expect(Math.max(...runs)).toBeLessThanOrEqual(6);
  });

  it('reads a window once however many fields of the request ask for it', async () => {
    const f = day0.toISOString();
    const to = new Date(day0.getTime() + 86_400_000).toISOString();
    const field = (alias: string, channel = '') =>
      `${alias}: paymentSuccess(direction: PAY_IN, from: "${f}", to: "${to}"${channel}) { effectiveRate attempts previous { attempts } }`;
    t.statements.length = 0;
    const one = await t.gql(`{ ${field('a')} }`);
    const single = t.statements.length;
    t.statements.length = 0;
    const three = await t.gql<Record<string, { attempts: number }>>(
      `{ ${field('a')} ${field('b')} ${field('c')} m: metric(key: "payments.pay_in.attempts") { value(from: "${f}", to: "${to}") { value } } }`,
    );
    expect(t.statements.length).toBe(single);
    expect(three.data!.b).toEqual((one.data as Record<string, unknown>).a);
    expect((three.data!.m as unknown as { value: { value: number } }).value.value).toBe(three.data!.a!.attempts);
    // Another channel is another read, and its own figures.
    const ch = await t.gql<Record<string, { attempts: number }>>(`{ ${field('all')} ${field('alipay', ', channel: "alipay"')} }`);
    expect(ch.data!.alipay!.attempts).toBe(expected(all, day0, new Date(day0.getTime() + 86_400_000), (e) => e.direction === 'PAY_IN' && e.channel === 'alipay').attempts);
    expect(ch.data!.alipay!.attempts).toBeLessThan(ch.data!.all!.attempts);
  });
});

describe('failures', () => {
  it('breaks failures down by code, largest first, with attribution and shares', async () => {
    const from = day0;
    const to = new Date(day0.getTime() + 3 * 86_400_000);
    const r = await t.gql<{ paymentFailureBreakdown: { code: string; attribution: string; count: number; share: number }[] }>(
      `query($f: DateTime!, $t: DateTime!) { paymentFailureBreakdown(direction: PAY_IN, from: $f, to: $t, first: 3) { code attribution count share } }`,
      { f: from.toISOString(), t: to.toISOString() },
    );
    const failures = all.filter((e) => e.direction === 'PAY_IN' && e.status === 'FAILED' && Date.parse(e.occurredAt) >= from.getTime() && Date.parse(e.occurredAt) < to.getTime());
    const byCode = new Map<string, number>();
    for (const e of failures) byCode.set(e.failureCode!, (byCode.get(e.failureCode!) ?? 0) + 1);
    const want = [...byCode].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 3);
    expect(r.data!.paymentFailureBreakdown.map((x) => [x.code, x.count])).toEqual(want);
    for (const x of r.data!.paymentFailureBreakdown) {
      expect(x.share).toBeCloseTo(x.count / failures.length, 12);
      expect(x.attribution).toBe(USER_CODES.has(x.code) ? 'USER' : SYSTEM_CODES.has(x.code) ? 'SYSTEM' : 'UNCLASSIFIED');
    }
  });

  it('lists every code with counts, and reclassifying one changes past figures', async () => {
    const codes = await t.gql<{ failureCodes: { code: string; attribution: string; count: number; firstSeenAt: string; description: string | null }[] }>(
      '{ failureCodes { code attribution count firstSeenAt description } }',
      undefined,
      viewer,
    );
    const risk = codes.data!.failureCodes.find((c) => c.code === 'RISK_REJECTED')!;
    expect(risk.attribution).toBe('UNCLASSIFIED');
    expect(risk.count).toBe(all.filter((e) => e.failureCode === 'RISK_REJECTED').length);
    expect(codes.data!.failureCodes.find((c) => c.code === 'BANK_TIMEOUT')!.description).toBe('bank side');

    const q = `query($f: DateTime!, $t: DateTime!) { paymentSuccess(direction: PAY_IN, from: $f, to: $t) { eligible unclassifiedFailures userFailures } }`;
    const vars = { f: day0.toISOString(), t: new Date(day0.getTime() + 3 * 86_400_000).toISOString() };
    const before = (await t.gql<{ paymentSuccess: { eligible: number; unclassifiedFailures: number; userFailures: number } }>(q, vars)).data!.paymentSuccess;
    const editor = await t.tokenFor(Role.EDITOR);
    await t.gql('mutation { classifyFailureCodes(input: [{ code: "RISK_REJECTED", attribution: USER }]) { code } }', undefined, editor);
    const after = (await t.gql<{ paymentSuccess: { eligible: number; unclassifiedFailures: number; userFailures: number } }>(q, vars)).data!.paymentSuccess;
    expect(after.unclassifiedFailures).toBe(0);
    expect(after.userFailures).toBe(before.userFailures + before.unclassifiedFailures);
    expect(after.eligible).toBe(before.eligible - before.unclassifiedFailures);
    await t.gql('mutation { classifyFailureCodes(input: [{ code: "RISK_REJECTED", attribution: UNCLASSIFIED }]) { code } }', undefined, editor);
  });
});

describe('time zone change', () => {
  it('rebuilds local days so daily figures follow the new zone', async () => {
    await t.gql('mutation { updateSettings(input: { timeZone: "America/New_York" }) { timeZone } }');
    try {
      const ny = { timeZone: 'America/New_York', weekRule: 'FIRST_DAY' as const };
      const d = dayOf(new Date(day0.getTime() + 36 * 3_600_000), ny);
      const r = await t.gql<{ paymentSuccessSeries: Point[] }>(
        `query($f: DateTime!, $t: DateTime!) { paymentSuccessSeries(direction: PAY_IN, from: $f, to: $t, granularity: DAY) { from to ${FIGS} } }`,
        { f: d.startsAt.toISOString(), t: d.endsAt.toISOString() },
      );
      const p = r.data!.paymentSuccessSeries[0]!;
      const { from: _f, to: _t, ...got } = p;
      expect(got).toEqual(expected(all, d.startsAt, d.endsAt, (e) => e.direction === 'PAY_IN'));
      const [{ n }] = await t.db.dataSource.query(`SELECT count(DISTINCT local_date)::int AS n FROM payment_counts_day`);
      expect(n).toBeGreaterThanOrEqual(3);
    } finally {
      await t.gql('mutation { updateSettings(input: { timeZone: "Asia/Shanghai" }) { timeZone } }');
    }
  });
});
