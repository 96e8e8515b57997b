import { describe, expect, it } from 'vitest';
import {
  assertCalendarSettings,
  dayOf,
  monthOf,
  parseLocalDate,
  previousPeriod,
  previousWindow,
  quarterOf,
  weekByNumber,
  weekLabel,
  weekOfDate,
  weekOfInstant,
  weeksInYear,
  yearOf,
  yearToDate,
  type CalendarSettings,
} from './calendar.js';
import { CalendarInputError } from './calendar.errors.js';

const SH_FIRST: CalendarSettings = { timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY' };
const SH_ISO: CalendarSettings = { timeZone: 'Asia/Shanghai', weekRule: 'ISO_8601' };
const BERLIN: CalendarSettings = { timeZone: 'Europe/Berlin', weekRule: 'ISO_8601' };
const HOUR = 3_600_000;

function hours(w: { startsAt: Date; endsAt: Date }): number {
  return (w.endsAt.getTime() - w.startsAt.getTime()) / HOUR;
}

describe('weeks as the example report numbers them', () => {
  it('2023-01-09 is week 03 under FIRST_DAY and week 02 under ISO 8601', () => {
    const first = weekOfDate('2023-01-09', SH_FIRST);
    expect(first).toMatchObject({ year: 2023, number: 3, startDate: '2023-01-09', endDate: '2023-01-15' });
    expect(first.startsAt.toISOString()).toBe('2023-01-08T16:00:00.000Z');
    expect(first.endsAt.toISOString()).toBe('2023-01-15T16:00:00.000Z');
    expect(weekLabel(first, 'zh-CN')).toBe('第03周 2023-01-09');
    expect(weekLabel(first, 'en')).toBe('Week 03 · 2023-01-09');
    expect(weekOfDate('2023-01-09', SH_ISO)).toMatchObject({ year: 2023, number: 2 });
  });

  it('2023-01-01, a Sunday, is week 01 of 2023 under FIRST_DAY and week 52 of 2022 under ISO', () => {
    expect(weekOfDate('2023-01-01', SH_FIRST)).toMatchObject({ year: 2023, number: 1, startDate: '2022-12-26', endDate: '2023-01-01' });
    expect(weekOfDate('2022-12-26', SH_FIRST)).toMatchObject({ year: 2023, number: 1 });
    expect(weekOfDate('2023-01-01', SH_ISO)).toMatchObject({ year: 2022, number: 52, startDate: '2022-12-26' });
  });

  it('handles the ISO week-year edges and their FIRST_DAY counterparts', () => {
    expect(weekOfDate('2020-12-31', SH_ISO)).toMatchObject({ year: 2020, number: 53, startDate: '2020-12-28' });
    expect(weekOfDate('2021-01-04', SH_ISO)).toMatchObject({ year: 2021, number: 1, startDate: '2021-01-04' });
    expect(weekOfDate('2024-12-30', SH_ISO)).toMatchObject({ year: 2025, number: 1, startDate: '2024-12-30' });
    // FIRST_DAY: the week of 2020-12-28 contains 1 Jan 2021, so it is week 1 of 2021.
    expect(weekOfDate('2020-12-31', SH_FIRST)).toMatchObject({ year: 2021, number: 1, startDate: '2020-12-28' });
    expect(weekOfDate('2021-01-04', SH_FIRST)).toMatchObject({ year: 2021, number: 2 });
    expect(weekOfDate('2024-12-30', SH_FIRST)).toMatchObject({ year: 2025, number: 1, endDate: '2025-01-05' });
    expect(weekOfDate('2024-12-29', SH_FIRST)).toMatchObject({ year: 2024, number: 52 });
  });

  it('counts 52 or 53 weeks a year', () => {
    expect(weeksInYear(2020, 'ISO_8601')).toBe(53);
    expect(weeksInYear(2021, 'ISO_8601')).toBe(52);
    // 2022 under FIRST_DAY: 1 Jan 2022 is a Saturday (week 1 from Mon 2021-12-27) to Sun 2022-12-25.
    expect(weeksInYear(2022, 'FIRST_DAY')).toBe(52);
    // 2017 starts on a Sunday and 2018 on a Monday: Mon 2016-12-26 … Sun 2017-12-31 is 53 weeks.
    expect(weeksInYear(2017, 'FIRST_DAY')).toBe(53);
  });

  it('round-trips every week of 2020–2030 under both rules, tiling time without gaps', () => {
    for (const s of [SH_FIRST, SH_ISO]) {
      let previousEnd: Date | undefined;
      for (let year = 2020; year <= 2030; year++) {
        const n = weeksInYear(year, s.weekRule);
        for (let number = 1; number <= n; number++) {
          const w = weekByNumber(year, number, s);
          expect(weekOfDate(w.startDate, s)).toMatchObject({ year, number, startDate: w.startDate });
          expect(weekOfDate(w.endDate, s)).toMatchObject({ year, number });
          if (previousEnd) expect(w.startsAt.getTime()).toBe(previousEnd.getTime());
          previousEnd = w.endsAt;
        }
      }
    }
  });

  it('rejects week 0, week 54 and week 53 of a 52-week year, naming the field', () => {
    for (const [year, number] of [
      [2023, 0],
      [2023, 54],
      [2022, 53],
    ] as const) {
      const err = (() => {
        try {
          weekByNumber(year, number, SH_FIRST);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(CalendarInputError);
      expect((err as CalendarInputError).field).toBe('number');
      expect((err as CalendarInputError).message).toContain(`week ${number}`);
    }
    expect(weekByNumber(2017, 53, SH_FIRST)).toMatchObject({ startDate: '2017-12-25', endDate: '2017-12-31' });
    expect(() => weekByNumber(1800, 1, SH_FIRST)).toThrow(/year/);
  });
});

describe('instants at the edges of a local week', () => {
  it('puts 23:59:59.999 on local Sunday in the old week and 00:00 on local Monday in the new one', () => {
    // Asia/Shanghai is UTC+8: Sunday 2023-01-15 23:59:59.999 local = 15:59:59.999Z.
    expect(weekOfInstant(new Date('2023-01-15T15:59:59.999Z'), SH_FIRST)).toMatchObject({ number: 3 });
    expect(weekOfInstant(new Date('2023-01-15T16:00:00.000Z'), SH_FIRST)).toMatchObject({ number: 4, startDate: '2023-01-16' });
    // New York in winter is UTC−5.
    const ny: CalendarSettings = { timeZone: 'America/New_York', weekRule: 'FIRST_DAY' };
    expect(weekOfInstant(new Date('2023-01-16T04:59:59.999Z'), ny)).toMatchObject({ number: 3 });
    expect(weekOfInstant(new Date('2023-01-16T05:00:00.000Z'), ny)).toMatchObject({ number: 4 });
  });
});

describe('daylight saving time', () => {
  it('has a 23-hour and a 25-hour day in Europe/Berlin', () => {
    expect(hours(dayOf('2023-03-26', BERLIN))).toBe(23);
    expect(hours(dayOf('2023-10-29', BERLIN))).toBe(25);
    expect(hours(dayOf('2023-03-27', BERLIN))).toBe(24);
    expect(dayOf('2023-03-26', BERLIN).startsAt.toISOString()).toBe('2023-03-25T23:00:00.000Z');
  });

  it('has a 167-hour and a 169-hour week around those days', () => {
    expect(hours(weekOfDate('2023-03-26', BERLIN))).toBe(167);
    expect(hours(weekOfDate('2023-10-29', BERLIN))).toBe(169);
    expect(hours(previousPeriod(weekOfDate('2023-04-02', BERLIN), BERLIN))).toBe(167);
  });
});

describe('months, quarters, years and year to date', () => {
  it('gives local calendar windows and their previous periods', () => {
    const march = monthOf('2024-03-15', SH_FIRST);
    expect(march).toMatchObject({ kind: 'MONTH', startDate: '2024-03-01', endDate: '2024-03-31' });
    expect(march.startsAt.toISOString()).toBe('2024-02-29T16:00:00.000Z');
    const feb = previousPeriod(march, SH_FIRST);
    expect(feb).toMatchObject({ startDate: '2024-02-01', endDate: '2024-02-29' });
    expect(hours(feb)).toBe(29 * 24);

    const q1 = quarterOf('2023-02-10', SH_FIRST);
    expect(q1).toMatchObject({ kind: 'QUARTER', startDate: '2023-01-01', endDate: '2023-03-31' });
    expect(previousPeriod(q1, SH_FIRST)).toMatchObject({ startDate: '2022-10-01', endDate: '2022-12-31' });

    const y = yearOf(new Date('2022-12-31T16:30:00Z'), SH_FIRST); // already 2023 in Shanghai
    expect(y).toMatchObject({ startDate: '2023-01-01', endDate: '2023-12-31' });
    expect(previousPeriod(y, SH_FIRST)).toMatchObject({ startDate: '2022-01-01' });

    expect(previousPeriod(dayOf('2023-03-01', SH_FIRST), SH_FIRST)).toMatchObject({ startDate: '2023-02-28', endDate: '2023-02-28' });
    const w1 = weekByNumber(2023, 1, SH_FIRST);
    expect(previousPeriod(w1, SH_FIRST)).toMatchObject({ kind: 'WEEK', year: 2022, number: 52, startDate: '2022-12-19' });
  });

  it('measures year to date from local 1 January to the instant, and its previous span a year earlier', () => {
    const now = new Date('2023-01-13T00:00:00Z'); // 08:00 on 13 Jan in Shanghai
    const ytd = yearToDate(now, SH_FIRST);
    expect(ytd).toMatchObject({ kind: 'YEAR_TO_DATE', startDate: '2023-01-01', endDate: '2023-01-13' });
    expect(ytd.startsAt.toISOString()).toBe('2022-12-31T16:00:00.000Z');
    expect(ytd.endsAt.toISOString()).toBe(now.toISOString());
    const prev = previousPeriod(ytd, SH_FIRST);
    expect(prev.startsAt.toISOString()).toBe('2021-12-31T16:00:00.000Z');
    expect(prev.endsAt.toISOString()).toBe('2022-01-13T00:00:00.000Z');
  });

  it('gives the window of equal length just before', () => {
    const w = { startsAt: new Date('2023-01-10T00:00:00Z'), endsAt: new Date('2023-01-10T06:00:00Z') };
    expect(previousWindow(w)).toEqual({ startsAt: new Date('2023-01-09T18:00:00Z'), endsAt: new Date('2023-01-10T00:00:00Z') });
  });
});

describe('bad input', () => {
  it('rejects an unknown time zone naming timeZone', () => {
    expect(() => assertCalendarSettings({ timeZone: 'Mars/Olympus', weekRule: 'FIRST_DAY' })).toThrow(CalendarInputError);
    try {
      weekOfDate('2023-01-09', { timeZone: 'Mars/Olympus', weekRule: 'FIRST_DAY' });
    } catch (e) {
      expect((e as CalendarInputError).field).toBe('timeZone');
    }
    expect(() => assertCalendarSettings({ timeZone: 'UTC', weekRule: 'ISO_8601' })).not.toThrow();
  });

  it('rejects dates that are not calendar dates', () => {
    for (const bad of ['2023-02-30', '2023-1-9', 'yesterday', '', '2023-13-01']) {
      expect(() => parseLocalDate(bad)).toThrow(CalendarInputError);
    }
    expect(parseLocalDate('2024-02-29')).toEqual({ year: 2024, month: 2, day: 29 });
    expect(() => parseLocalDate('x', 'from')).toThrow(/not a calendar date/);
  });
});
