import { describe, expect, it } from 'vitest';
import { CalendarInputError } from '../calendar/calendar.errors.js';
import type { CalendarSettings } from '../calendar/calendar.js';
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
