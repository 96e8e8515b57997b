import { describe, expect, it } from 'vitest';
import { CalendarInputError } from '../calendar/calendar.errors.js';
import { periodOf, type CalendarSettings } from '../calendar/calendar.js';
import { assertWindow, pointIndexOf, seriesPoints, splitByLocalDays } from './windows.js';

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
