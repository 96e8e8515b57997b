import { IANAZone } from 'luxon';
import { describe, expect, it } from 'vitest';
import { CalendarInputError } from '../calendar/calendar.errors.js';
import { periodOf, type CalendarSettings } from '../calendar/calendar.js';
import { assertWindow, pointIndexOf, seriesPoints, splitByLocalDays, startOfLocalHour } from './windows.js';

const MINUTE_MS = 60_000;
const SH: CalendarSettings = { timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY' };
const iso = (w: { startsAt: Date; endsAt: Date }) => [w.startsAt.toISOString(), w.endsAt.toISOString()];

describe('series points follow the organisation calendar', () => {
  it('cuts days at local midnight and clips the ends to the window', () => {
    const pts = seriesPoints(new Date('2023-01-09T00:00:00Z'), new Date('2023-01-11T00:00:00Z'), 'DAY', SH);
    expect(pts.map(iso)).toEqual([
      ['2023-01-09T00:00:00.000Z', '2023-01-09T16:00:00.000Z'],
      ['2023-01-09T16:00:00.000Z', '2023-01-10T16:00:00.000Z'],
      ['2023-01-10T16:00:00.000Z', '2023-01-11T00:00:00.000Z'],
    ]);
  });

  it('starts weeks on Monday and months on the 1st, in the zone', () => {
    const weeks = seriesPoints(new Date('2023-01-08T16:00:00Z'), new Date('2023-01-22T16:00:00Z'), 'WEEK', SH);
    expect(weeks.map(iso)).toEqual([
      ['2023-01-08T16:00:00.000Z', '2023-01-15T16:00:00.000Z'],
      ['2023-01-15T16:00:00.000Z', '2023-01-22T16:00:00.000Z'],
    ]);
    const months = seriesPoints(new Date('2022-12-31T16:00:00Z'), new Date('2023-03-31T16:00:00Z'), 'MONTH', SH);
    expect(months.map((p) => p.startsAt.toISOString())).toEqual(['2022-12-31T16:00:00.000Z', '2023-01-31T16:00:00.000Z', '2023-02-28T16:00:00.000Z']);
  });

  it('has 23 hourly points on a spring-forward day in Berlin', () => {
    const berlin: CalendarSettings = { timeZone: 'Europe/Berlin', weekRule: 'ISO_8601' };
    const pts = seriesPoints(new Date('2023-03-25T23:00:00Z'), new Date('2023-03-26T22:00:00Z'), 'HOUR', berlin);
    expect(pts).toHaveLength(23);
  });

  it('refuses MINUTE past 48 hours, more than 5,000 points, and windows not on whole minutes', () => {
    const from = new Date('2023-01-01T00:00:00Z');
    expect(() => seriesPoints(from, new Date('2023-01-03T00:01:00Z'), 'MINUTE', SH)).toThrow(/48 hours/);
    expect(seriesPoints(from, new Date('2023-01-03T00:00:00Z'), 'MINUTE', SH)).toHaveLength(2_880);
    expect(() => seriesPoints(from, new Date('2024-01-01T00:00:00Z'), 'HOUR', SH)).toThrow(/5000/);
    expect(() => assertWindow(new Date('2023-01-01T00:00:30Z'), new Date('2023-01-02T00:00:00Z'))).toThrow(CalendarInputError);
    expect(() => assertWindow(from, from)).toThrow(/later than from/);
  });

  // seriesPoints steps from one period's last local date to the next; stepping by instants (the
  // period containing the previous one's end) is the obvious reference. Zones with days that
  // repeat or vanish: Havana (midnight twice), Apia (2011-12-30 skipped), Lord Howe (30-minute
  // DST), Santiago and Berlin (DST), Kathmandu (+05:45), Kiritimati (+14).
  it('gives the periods that stepping by instants gives, in zones with odd days', () => {
    const byInstants = (from: Date, to: Date, g: 'DAY' | 'WEEK' | 'MONTH', s: CalendarSettings) => {
      const out: string[][] = [];
      for (let p = periodOf(g, from, s); p.startsAt < to; p = periodOf(g, p.endsAt, s)) {
        out.push([new Date(Math.max(+p.startsAt, +from)).toISOString(), new Date(Math.min(+p.endsAt, +to)).toISOString()]);
      }
      return out;
    };
    const cases: [string, string, string][] = [
      ['America/Havana', '2023-10-30T00:00:00Z', '2023-11-12T00:00:00Z'],
      ['America/Havana', '2023-03-05T00:00:00Z', '2023-03-20T00:00:00Z'],
      ['Pacific/Apia', '2011-12-20T00:00:00Z', '2012-01-20T00:00:00Z'],
      ['Australia/Lord_Howe', '2023-09-25T00:00:00Z', '2023-10-20T00:00:00Z'],
      ['America/Santiago', '2023-03-28T00:00:00Z', '2023-04-10T00:00:00Z'],
      ['Europe/Berlin', '2023-10-20T07:13:00Z', '2024-04-02T00:00:00Z'],
      ['Asia/Kathmandu', '2022-12-25T00:00:00Z', '2023-02-03T00:00:00Z'],
      ['Pacific/Kiritimati', '9999-10-01T00:00:00Z', '9999-12-31T00:00:00Z'],
      ['Asia/Shanghai', '1900-01-01T00:00:00Z', '1900-03-01T00:00:00Z'],
    ];
    for (const [timeZone, from, to] of cases) {
      for (const weekRule of ['FIRST_DAY', 'ISO_8601'] as const) {
        for (const g of ['DAY', 'WEEK', 'MONTH'] as const) {
          const s = { timeZone, weekRule };
          const expected = byInstants(new Date(from), new Date(to), g, s);
          expect(expected.length, `${timeZone} ${g}`).toBeGreaterThan(0);
          expect(seriesPoints(new Date(from), new Date(to), g, s).map(iso), `${timeZone} ${weekRule} ${g} ${from}`).toEqual(expected);
        }
      }
    }
    // The skipped day is not a point: 2011-12-29 is followed by 2011-12-31.
    const apia = seriesPoints(new Date('2011-12-28T10:00:00Z'), new Date('2011-12-31T10:00:00Z'), 'DAY', { timeZone: 'Pacific/Apia', weekRule: 'FIRST_DAY' });
    expect(apia.map(iso)).toEqual([
      ['2011-12-28T10:00:00.000Z', '2011-12-29T10:00:00.000Z'],
      ['2011-12-29T10:00:00.000Z', '2011-12-30T10:00:00.000Z'],
      ['2011-12-30T10:00:00.000Z', '2011-12-31T10:00:00.000Z'],
    ]);
  });

  it('finds the point of an instant', () => {
    const pts = seriesPoints(new Date('2023-01-09T00:00:00Z'), new Date('2023-01-11T00:00:00Z'), 'DAY', SH);
    expect(pointIndexOf(pts, Date.parse('2023-01-09T15:59:59.999Z'))).toBe(0);
    expect(pointIndexOf(pts, Date.parse('2023-01-09T16:00:00Z'))).toBe(1);
    expect(pointIndexOf(pts, Date.parse('2023-01-11T00:00:00Z'))).toBe(-1);
  });
});

describe('hourly points follow the wall clock of the organisation', () => {
  const hours = (timeZone: string, from: string, to: string) =>
    seriesPoints(new Date(from), new Date(to), 'HOUR', { timeZone, weekRule: 'ISO_8601' }).map((p) => [p.startsAt.toISOString().slice(11, 16), p.endsAt.toISOString().slice(11, 16)]);

  it('gives Lord Howe a 1.5-hour 01:00 when its clock goes back half an hour', () => {
    // 2026-04-05 02:00 +11 → 01:30 +10:30, at 2026-04-04T15:00Z: 01:00 local lasts until 02:00 (+10:30).
    expect(hours('Australia/Lord_Howe', '2026-04-04T13:00:00Z', '2026-04-04T18:00:00Z')).toEqual([
      ['13:00', '14:00'],
      ['14:00', '15:30'],
      ['15:30', '16:30'],
      ['16:30', '17:30'],
      ['17:30', '18:00'],
    ]);
  });

  it('gives Lord Howe a half-hour 02:00 when its clock jumps forward half an hour', () => {
    // 2026-10-04 02:00 +10:30 → 02:30 +11, at 2026-10-03T15:30Z.
    expect(hours('Australia/Lord_Howe', '2026-10-03T13:00:00Z', '2026-10-03T18:00:00Z')).toEqual([
      ['13:00', '13:30'],
      ['13:30', '14:30'],
      ['14:30', '15:30'],
      ['15:30', '16:00'],
      ['16:00', '17:00'],
      ['17:00', '18:00'],
    ]);
  });

  it('keeps whole-hour DST zones as they were: 23 points on spring-forward day, 25 on fall-back day in Berlin', () => {
    expect(hours('Europe/Berlin', '2023-03-25T23:00:00Z', '2023-03-26T03:00:00Z')).toEqual([
      ['23:00', '00:00'], // 00:00 CET
      ['00:00', '01:00'], // 01:00 CET, then 03:00 CEST
      ['01:00', '02:00'],
      ['02:00', '03:00'],
    ]);
    // 03:00 CEST falls back to 02:00 CET at 01:00Z: the clock lands on 02:00:00, so the 02:00 hour happens twice.
    expect(hours('Europe/Berlin', '2023-10-28T23:00:00Z', '2023-10-29T03:00:00Z')).toEqual([
      ['23:00', '00:00'],
      ['00:00', '01:00'],
      ['01:00', '02:00'],
      ['02:00', '03:00'],
    ]);
    const berlin: CalendarSettings = { timeZone: 'Europe/Berlin', weekRule: 'ISO_8601' };
    expect(seriesPoints(new Date('2023-10-28T22:00:00Z'), new Date('2023-10-29T23:00:00Z'), 'HOUR', berlin)).toHaveLength(25);
    expect(seriesPoints(new Date('2023-03-25T23:00:00Z'), new Date('2023-03-26T22:00:00Z'), 'HOUR', berlin).every((p) => +p.endsAt - +p.startsAt === 3_600_000)).toBe(true);
  });

  it('starts Kathmandu hours at :15 UTC, and its 00:00 hour of 1986 lasts 45 minutes (+05:30 → +05:45)', () => {
    expect(hours('Asia/Kathmandu', '2023-01-09T00:00:00Z', '2023-01-09T03:00:00Z')).toEqual([
      ['00:00', '00:15'],
      ['00:15', '01:15'],
      ['01:15', '02:15'],
      ['02:15', '03:00'],
    ]);
    expect(hours('Asia/Kathmandu', '1985-12-31T17:00:00Z', '1985-12-31T21:00:00Z')).toEqual([
      ['17:00', '17:30'],
      ['17:30', '18:30'], // 23:00 +05:30
      ['18:30', '19:15'], // 00:00 +05:30 is 00:15 +05:45
      ['19:15', '20:15'],
      ['20:15', '21:00'],
    ]);
  });

  // Reference: a minute-by-minute scan of the rule (wall clock reaches or jumps forward past a
  // whole hour; a backward jump counts only when it lands on one), against the points and startOfLocalHour.
  const AROUND_TRANSITIONS: [string, string, string][] = [
    ['Australia/Lord_Howe', '2026-04-03T12:00:00Z', '2026-04-05T12:00:00Z'],
    ['Australia/Lord_Howe', '2026-10-02T12:00:00Z', '2026-10-04T12:00:00Z'],
    ['Europe/Berlin', '2023-03-25T12:00:00Z', '2023-03-27T12:00:00Z'],
    ['Europe/Berlin', '2023-10-28T12:00:00Z', '2023-10-30T12:00:00Z'],
    ['Asia/Kathmandu', '1985-12-30T12:00:00Z', '1986-01-01T12:00:00Z'],
  ];

  it('starts a point at every minute the wall clock reaches a whole hour, and nowhere else', () => {
    const H = 3_600_000;
    for (const [timeZone, from, to] of AROUND_TRANSITIONS) {
      const zone = IANAZone.create(timeZone);
      const off = (ms: number) => zone.offset(ms) * MINUTE_MS;
      const starts: string[] = [];
      for (let m = Date.parse(from) + MINUTE_MS; m < Date.parse(to); m += MINUTE_MS) {
        const before = off(m - MINUTE_MS);
        const now = off(m);
        const wall = m + now;
        const isStart = now >= before ? Math.floor(wall / H) * H > m - MINUTE_MS + before : wall % H === 0;
        if (isStart) starts.push(new Date(m).toISOString());
      }
      const pts = seriesPoints(new Date(from), new Date(to), 'HOUR', { timeZone, weekRule: 'ISO_8601' });
      expect(pts.slice(1).map((p) => p.startsAt.toISOString()), timeZone + ' ' + from).toEqual(starts);
    }
  });

  it('refuses an invalid instant in startOfLocalHour instead of searching forever', () => {
    expect(() => startOfLocalHour(new Date(Number.NaN), 'UTC')).toThrow(CalendarInputError);
    expect(() => startOfLocalHour(new Date(Number.NaN), 'Australia/Lord_Howe')).toThrow(/not a valid instant/);
  });

  it('puts any instant in the point that startOfLocalHour names', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (const [timeZone, from, to] of AROUND_TRANSITIONS) {
      const pts = seriesPoints(new Date(from), new Date(to), 'HOUR', { timeZone, weekRule: 'ISO_8601' }).slice(1); // the first is clipped
      const lo = pts[0]!.startsAt.getTime();
      const hi = pts[pts.length - 1]!.endsAt.getTime();
      const instants = [...pts.flatMap((p) => [p.startsAt.getTime(), p.endsAt.getTime() - 1]).filter((t) => t < hi), ...Array.from({ length: 300 }, () => lo + Math.floor(rand() * (hi - lo)))];
      for (const t of instants) {
        const p = pts[pointIndexOf(pts, t)]!;
        expect(startOfLocalHour(new Date(t), timeZone).toISOString(), `${timeZone} ${new Date(t).toISOString()}`).toBe(p.startsAt.toISOString());
      }
    }
  });
});

describe('splitting a window into whole local days and edges', () => {
  it('keeps whole days for the day counters and the rest for the minute counters', () => {
    const split = splitByLocalDays(new Date('2023-01-09T10:00:00Z'), new Date('2023-01-12T03:00:00Z'), 'Asia/Shanghai');
    expect(split.days).toEqual({ fromDate: '2023-01-10', toDate: '2023-01-12' });
    expect(split.edges.map(iso)).toEqual([
      ['2023-01-09T10:00:00.000Z', '2023-01-09T16:00:00.000Z'],
      ['2023-01-11T16:00:00.000Z', '2023-01-12T03:00:00.000Z'],
    ]);
  });

  it('uses no day counters for a window inside one day, and no edges for an aligned week', () => {
    expect(splitByLocalDays(new Date('2023-01-09T01:00:00Z'), new Date('2023-01-09T02:00:00Z'), 'Asia/Shanghai')).toEqual({
      days: null,
      edges: [{ startsAt: new Date('2023-01-09T01:00:00Z'), endsAt: new Date('2023-01-09T02:00:00Z') }],
    });
    expect(splitByLocalDays(new Date('2023-01-08T16:00:00Z'), new Date('2023-01-15T16:00:00Z'), 'Asia/Shanghai')).toEqual({
      days: { fromDate: '2023-01-09', toDate: '2023-01-16' },
      edges: [],
    });
  });
});
