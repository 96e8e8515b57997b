import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import {
  assertCalendarSettings,
  DEFAULT_CALENDAR,
  isValidTimeZone,
  dayOf,
  monthOf,
  parseLocalDate,
  periodOf,
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
  type Period,
} from './calendar.js';
import { CalendarInputError } from './calendar.errors.js';

const SH_FIRST: CalendarSettings = { timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY' };
const SH_ISO: CalendarSettings = { timeZone: 'Asia/Shanghai', weekRule: 'ISO_8601' };
const BERLIN: CalendarSettings = { timeZone: 'Europe/Berlin', weekRule: 'ISO_8601' };
const HOUR = 3_600_000;

function hours(w: { startsAt: Date; endsAt: Date }): number {
  return (w.endsAt.getTime() - w.startsAt.getTime()) / HOUR;
}

/** The error a call throws; fails the test when it does not throw. */
function thrown(f: () => unknown): CalendarInputError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CalendarInputError);
    return e as CalendarInputError;
  }
  throw new Error('expected a CalendarInputError');
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
      const err = thrown(() => weekByNumber(year, number, SH_FIRST));
      expect(err.field).toBe('number');
      expect(err.code).toBe('BAD_USER_INPUT');
      expect(err.message).toContain(`week ${number}`);
    }
    expect(thrown(() => weekByNumber(2022, 54, SH_FIRST)).message).toBe('week 54 does not exist in 2022 under FIRST_DAY (weeks 1–52)');
    // 2023 has 53 FIRST_DAY weeks: Mon 2022-12-26 … Sun 2023-12-31, as 1 Jan 2024 is a Monday.
    expect(thrown(() => weekByNumber(2023, 54, SH_FIRST)).message).toBe('week 54 does not exist in 2023 under FIRST_DAY (weeks 1–53)');
    expect(weekByNumber(2023, 53, SH_FIRST)).toMatchObject({ startDate: '2023-12-25', endDate: '2023-12-31' });
    expect(thrown(() => weekByNumber(2021, 53, SH_ISO)).field).toBe('number');
    expect(weekByNumber(2017, 53, SH_FIRST)).toMatchObject({ startDate: '2017-12-25', endDate: '2017-12-31' });
    expect(weekByNumber(2020, 53, SH_ISO)).toMatchObject({ startDate: '2020-12-28', endDate: '2021-01-03' });
    expect(thrown(() => weekByNumber(1800, 1, SH_FIRST)).field).toBe('year');
    expect(thrown(() => weekByNumber(10_000, 1, SH_FIRST)).field).toBe('year');
    expect(thrown(() => weekByNumber(2023, 1.5, SH_FIRST)).field).toBe('number');
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

  it('starts a day at the first existing instant where DST skips midnight', () => {
    // America/Santiago, 2023-09-03: 00:00 −04 jumps to 01:00 −03.
    const santiago: CalendarSettings = { timeZone: 'America/Santiago', weekRule: 'ISO_8601' };
    const day = dayOf('2023-09-03', santiago);
    expect(day.startsAt.toISOString()).toBe('2023-09-03T04:00:00.000Z');
    expect(hours(day)).toBe(23);
    expect(dayOf('2023-09-02', santiago).endsAt.getTime()).toBe(day.startsAt.getTime());
  });

  it('starts a day at the first of two midnights where the clock falls back to midnight', () => {
    // America/Havana, 2023-11-05: 01:00 −04 falls back to 00:00 −05, so midnight happens twice.
    const havana: CalendarSettings = { timeZone: 'America/Havana', weekRule: 'ISO_8601' };
    const day = dayOf('2023-11-05', havana);
    expect(day.startsAt.toISOString()).toBe('2023-11-05T04:00:00.000Z');
    expect(hours(day)).toBe(25);
    expect(hours(dayOf('2023-11-04', havana))).toBe(24);
    // 00:30 local (first time round) belongs to 5 November by date and by window alike.
    const instant = new Date('2023-11-05T04:30:00Z');
    expect(dayOf(instant, havana)).toMatchObject({ startDate: '2023-11-05' });
    expect(weekOfDate('2023-11-05', havana).endsAt.toISOString()).toBe('2023-11-06T05:00:00.000Z');
  });

  it('gives a day the calendar skipped no time at all', () => {
    // Samoa moved across the date line: 2011-12-29 24:00 −10 was 2011-12-31 00:00 +14.
    const apia: CalendarSettings = { timeZone: 'Pacific/Apia', weekRule: 'ISO_8601' };
    const skipped = dayOf('2011-12-30', apia);
    expect(hours(skipped)).toBe(0);
    expect(dayOf('2011-12-29', apia).endsAt.getTime()).toBe(skipped.startsAt.getTime());
    expect(dayOf('2011-12-31', apia).startsAt.getTime()).toBe(skipped.endsAt.getTime());
    expect(hours(weekOfDate('2011-12-30', apia))).toBe(6 * 24);
  });

  it('tiles days without gaps and puts every instant inside its own day and week, across DST', () => {
    const zones = ['Asia/Shanghai', 'Europe/Berlin', 'America/Havana', 'America/Santiago', 'Australia/Lord_Howe', 'Asia/Beirut'];
    const contains = (p: Period, t: number) => p.startsAt.getTime() <= t && t < p.endsAt.getTime();
    for (const timeZone of zones) {
      const s: CalendarSettings = { timeZone, weekRule: 'FIRST_DAY' };
      const odd: Period[] = []; // days that are not 24 hours long, and their neighbours
      let day = dayOf('2023-01-01', s);
      for (let i = 0; i < 365; i++) {
        const next = dayOf(DateTime.fromISO(day.startDate).plus({ days: 1 }).toISODate()!, s);
        expect(next.startsAt.getTime()).toBe(day.endsAt.getTime());
        if (hours(day) !== 24 || hours(next) !== 24) odd.push(day, next);
        day = next;
      }
      // Every zone but Shanghai changes clocks twice in 2023.
      if (timeZone !== 'Asia/Shanghai') expect(odd.length).toBeGreaterThanOrEqual(4);
      for (const d of odd) {
        for (let t = d.startsAt.getTime() - HOUR; t <= d.endsAt.getTime() + HOUR; t += 30 * 60_000) {
          const instant = new Date(t);
          for (const p of [dayOf(instant, s), weekOfInstant(instant, s)]) {
            if (!contains(p, t)) expect.fail(`${timeZone} ${instant.toISOString()} is outside its ${p.kind} ${p.startDate}`);
          }
        }
      }
    }
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
    // Into a 53-week year under each rule.
    expect(previousPeriod(weekByNumber(2018, 1, SH_FIRST), SH_FIRST)).toMatchObject({ year: 2017, number: 53, startDate: '2017-12-25' });
    expect(previousPeriod(weekByNumber(2021, 1, SH_ISO), SH_ISO)).toMatchObject({ year: 2020, number: 53, startDate: '2020-12-28' });
  });

  it('follows local dates, not UTC ones, for months, quarters and years', () => {
    // 2023-03-31T16:30Z is already 1 April, Q2, in Shanghai.
    const instant = new Date('2023-03-31T16:30:00Z');
    expect(monthOf(instant, SH_FIRST)).toMatchObject({ startDate: '2023-04-01', endDate: '2023-04-30' });
    expect(quarterOf(instant, SH_FIRST)).toMatchObject({ startDate: '2023-04-01', endDate: '2023-06-30' });
    const q4 = quarterOf('2023-11-15', SH_FIRST);
    expect(q4).toMatchObject({ startDate: '2023-10-01', endDate: '2023-12-31' });
    expect(q4.endsAt.toISOString()).toBe('2023-12-31T16:00:00.000Z');
    expect(periodOf('YEAR', '2024-06-01', SH_FIRST)).toMatchObject({ kind: 'YEAR', startDate: '2024-01-01', endDate: '2024-12-31' });
    expect(hours(yearOf('2024-06-01', SH_FIRST))).toBe(366 * 24);
    expect(thrown(() => periodOf('FORTNIGHT' as never, '2024-06-01', SH_FIRST)).field).toBe('kind');
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
    expect(prev).toMatchObject({ kind: 'YEAR_TO_DATE', startDate: '2022-01-01', endDate: '2022-01-13' });
  });

  it('clamps year to date on 29 February to 28 February a year earlier', () => {
    const ytd = yearToDate(new Date('2024-02-29T04:00:00Z'), SH_FIRST); // 12:00 local
    const prev = previousPeriod(ytd, SH_FIRST);
    expect(prev).toMatchObject({ startDate: '2023-01-01', endDate: '2023-02-28' });
    expect(prev.endsAt.toISOString()).toBe('2023-02-28T04:00:00.000Z');
  });

  it('gives the window of equal length just before', () => {
    const w = { startsAt: new Date('2023-01-10T00:00:00Z'), endsAt: new Date('2023-01-10T06:00:00Z') };
    expect(previousWindow(w)).toEqual({ startsAt: new Date('2023-01-09T18:00:00Z'), endsAt: new Date('2023-01-10T00:00:00Z') });
    // Equal duration, not the previous calendar period: a 31-day month gives back 31 days.
    const march = monthOf('2024-03-01', SH_FIRST);
    const before = previousWindow(march);
    expect(before.endsAt.getTime()).toBe(march.startsAt.getTime());
    expect(hours(before)).toBe(31 * 24);
  });
});

describe('bad input', () => {
  it('rejects an unknown time zone naming timeZone', () => {
    const mars: CalendarSettings = { timeZone: 'Mars/Olympus', weekRule: 'FIRST_DAY' };
    expect(thrown(() => assertCalendarSettings(mars)).field).toBe('timeZone');
    expect(thrown(() => weekOfDate('2023-01-09', mars)).field).toBe('timeZone');
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(() => assertCalendarSettings({ timeZone: 'UTC', weekRule: 'ISO_8601' })).not.toThrow();
    expect(() => assertCalendarSettings(DEFAULT_CALENDAR)).not.toThrow();
    expect(thrown(() => assertCalendarSettings({ timeZone: 'UTC', weekRule: 'SUNDAY' as never })).field).toBe('weekRule');
  });

  it('rejects dates that are not calendar dates', () => {
    for (const bad of ['2023-02-30', '2023-1-9', 'yesterday', '', '2023-13-01']) {
      expect(() => parseLocalDate(bad)).toThrow(CalendarInputError);
    }
    expect(parseLocalDate('2024-02-29')).toEqual({ year: 2024, month: 2, day: 29 });
    expect(thrown(() => parseLocalDate('2023-02-30')).field).toBe('date');
    expect(thrown(() => parseLocalDate('x', 'from')).field).toBe('from');
    expect(() => parseLocalDate('x', 'from')).toThrow(/not a calendar date/);
    expect(thrown(() => weekOfInstant(new Date('nope'), SH_FIRST)).field).toBe('instant');
  });
});
