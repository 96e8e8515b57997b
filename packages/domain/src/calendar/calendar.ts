import { DateTime, IANAZone } from 'luxon';
import { LRUCache } from 'lru-cache';
import { CalendarInputError } from './calendar.errors.js';

/** How weeks are numbered. Weeks always run Monday to Sunday. */
export type WeekRule = 'FIRST_DAY' | 'ISO_8601';
export const WEEK_RULES: readonly WeekRule[] = ['FIRST_DAY', 'ISO_8601'];

export type Locale = 'zh-CN' | 'en';
export const LOCALES: readonly Locale[] = ['zh-CN', 'en'];

/** The organisation's reporting calendar. */
export interface CalendarSettings {
  /** IANA time zone, e.g. `Asia/Shanghai`. */
  timeZone: string;
  weekRule: WeekRule;
}

export const DEFAULT_CALENDAR: CalendarSettings = { timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY' };

/** Half-open window `[startsAt, endsAt)` of instants. */
export interface TimeWindow {
  startsAt: Date;
  endsAt: Date;
}

export type PeriodKind = 'DAY' | 'WEEK' | 'MONTH' | 'QUARTER' | 'YEAR' | 'YEAR_TO_DATE';

/** A calendar period in the organisation's zone. */
export interface Period extends TimeWindow {
  kind: PeriodKind;
  /** Local date `YYYY-MM-DD` of the first day. */
  startDate: string;
  /** Local date of the last day included (e.g. the Sunday of a week). */
  endDate: string;
}

export interface Week extends Period {
  kind: 'WEEK';
  /** The year the week belongs to: of its Sunday (FIRST_DAY) or of its Thursday (ISO_8601). */
  year: number;
  number: number;
}

interface LocalDate {
  year: number;
  month: number;
  day: number;
}

// Luxon's isValidZone builds an Intl.DateTimeFormat on every call (≈ 50–100 µs), and the
// settings are checked for every calendar period computed: a 30-day series spent ≈ 3 ms here.
// Valid names are remembered (at most the runtime's few hundred zones); others are checked again.
const validZones = new Set<string>();

/** True for an IANA zone the runtime knows (`UTC` included). */
export function isValidTimeZone(zone: string): boolean {
  if (validZones.has(zone)) return true;
  const valid = typeof zone === 'string' && zone.length > 0 && IANAZone.isValidZone(zone);
  if (valid) validZones.add(zone);
  return valid;
}

/** Throws `CalendarInputError` naming `timeZone` or `weekRule` when the settings are unusable. */
export function assertCalendarSettings(s: CalendarSettings): void {
  if (!isValidTimeZone(s.timeZone)) {
    throw new CalendarInputError('timeZone', `unknown time zone "${s.timeZone}": use an IANA name such as Asia/Shanghai`);
  }
  if (!WEEK_RULES.includes(s.weekRule)) {
    throw new CalendarInputError('weekRule', `unknown week rule "${s.weekRule}": use ${WEEK_RULES.join(' or ')}`);
  }
}

/** Strict `YYYY-MM-DD` that names a real day; anything else is a `CalendarInputError` on `field`. */
export function parseLocalDate(value: string, field = 'date'): LocalDate {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(typeof value === 'string' ? value : '');
  if (m) {
    const d = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
    const dt = DateTime.utc(d.year, d.month, d.day);
    if (dt.isValid && dt.month === d.month && dt.day === d.day) return d;
  }
  throw new CalendarInputError(field, `"${String(value)}" is not a calendar date YYYY-MM-DD`);
}

// Calendar arithmetic is done on dates at UTC midnight (no DST there); instants are made
// from local dates only at the end, in the organisation's zone.
type PlainDate = DateTime;

function plain(d: LocalDate): PlainDate {
  return DateTime.utc(d.year, d.month, d.day);
}

function iso(d: PlainDate): string {
  return d.toISODate()!;
}

function dayKey(year: number, month: number, day: number): number {
  return year * 10_000 + month * 100 + day;
}

function localDayKeyAt(ms: number, zone: string): number {
  const local = DateTime.fromMillis(ms, { zone });
  return dayKey(local.year, local.month, local.day);
}

/**
 * The instant a local day starts: the first instant whose local date is that day. That is local
 * midnight, or the first instant after the jump where DST skips midnight.
 *
 * Luxon's startOf('day') gets skipped midnights right, but where the clock falls back to midnight
 * (America/Havana, 2023-11-05: 01:00 → 00:00) midnight happens twice and Luxon picks the later one.
 * The hour between would then belong to the day before by window but to this day by local date.
 * One extra offset lookup finds that case; only then do we search for the real boundary.
 */
function computeStartOfLocalDay(d: PlainDate, zone: string): number {
  const guess = DateTime.fromObject({ year: d.year, month: d.month, day: d.day }, { zone }).startOf('day').toMillis();
  const target = dayKey(d.year, d.month, d.day);
  if (localDayKeyAt(guess - 1, zone) < target) return guess;
  // Binary search for the smallest instant on or after the day. Local dates only move forward
  // here; 72 hours back is before the day even across Samoa's skipped 2011-12-30.
  let before = guess - 72 * 3_600_000;
  let onOrAfter = guess;
  if (localDayKeyAt(before, zone) >= target) return guess;
  while (onOrAfter - before > 1) {
    const mid = Math.floor((before + onOrAfter) / 2);
    if (localDayKeyAt(mid, zone) >= target) onOrAfter = mid;
    else before = mid;
  }
  return onOrAfter;
}

// A day's start depends only on the date, the zone and the runtime's time-zone rules, yet each
// costs several offset lookups through Luxon and Intl (≈ 40–60 µs): a 30-day series over a
// window never asked before spent ≈ 4 ms here. Remembered per (zone, date); 20,000 entries are
// about 55 years of one zone (a few MB at most). lru-cache rather than a hand-written bound.
const dayStarts = new LRUCache<string, number>({ max: 20_000 });

function startOfLocalDay(d: PlainDate, zone: string): Date {
  const key = `${zone}|${dayKey(d.year, d.month, d.day)}`;
  let ms = dayStarts.get(key);
  if (ms === undefined) dayStarts.set(key, (ms = computeStartOfLocalDay(d, zone)));
  return new Date(ms);
}

/** The instant a local date `YYYY-MM-DD` starts in a zone (the first instant with that local date). */
export function localDayStart(localDate: string, timeZone: string): Date {
  return startOfLocalDay(plain(parseLocalDate(localDate)), timeZone);
}

/** The local date `YYYY-MM-DD` of an instant in a zone. */
export function localDateAt(instant: Date, timeZone: string): string {
  return DateTime.fromJSDate(instant, { zone: timeZone }).toISODate()!;
}

function zoneOf(s: CalendarSettings): string {
  assertCalendarSettings(s);
  return s.timeZone;
}

/** The local date an instant or a `YYYY-MM-DD` string falls on. */
function localDateOf(x: Date | string, zone: string): PlainDate {
  if (typeof x === 'string') return plain(parseLocalDate(x));
  if (!(x instanceof Date) || Number.isNaN(x.getTime())) throw new CalendarInputError('instant', 'not a valid instant');
  const local = DateTime.fromJSDate(x, { zone });
  return DateTime.utc(local.year, local.month, local.day);
}

function period(kind: PeriodKind, first: PlainDate, nextFirst: PlainDate, zone: string): Period {
  return {
    kind,
    startDate: iso(first),
    endDate: iso(nextFirst.minus({ days: 1 })),
    startsAt: startOfLocalDay(first, zone),
    endsAt: startOfLocalDay(nextFirst, zone),
  };
}

function mondayOf(d: PlainDate): PlainDate {
  return d.minus({ days: d.weekday - 1 });
}

/** Under FIRST_DAY, week 1 of `year` starts on the Monday on or before 1 January. */
function firstDayWeekOne(year: number): PlainDate {
  return mondayOf(DateTime.utc(year, 1, 1));
}

/** 52 or 53, computed from the rule. */
export function weeksInYear(year: number, rule: WeekRule): number {
  if (rule === 'ISO_8601') return DateTime.utc(year, 12, 28).weekNumber;
  return Math.round(firstDayWeekOne(year + 1).diff(firstDayWeekOne(year), 'days').days / 7);
}

function weekFromMonday(monday: PlainDate, s: CalendarSettings, zone: string): Week {
  let year: number;
  let number: number;
  if (s.weekRule === 'ISO_8601') {
    year = monday.weekYear;
    number = monday.weekNumber;
  } else {
    year = monday.plus({ days: 6 }).year; // the year of its Sunday
    number = Math.round(monday.diff(firstDayWeekOne(year), 'days').days / 7) + 1;
  }
  return { ...period('WEEK', monday, monday.plus({ days: 7 }), zone), kind: 'WEEK', year, number };
}

/** The week containing an instant, in the organisation's zone. */
export function weekOfInstant(instant: Date, s: CalendarSettings): Week {
  const zone = zoneOf(s);
  return weekFromMonday(mondayOf(localDateOf(instant, zone)), s, zone);
}

/** The week containing a local date `YYYY-MM-DD`. */
export function weekOfDate(localDate: string, s: CalendarSettings): Week {
  const zone = zoneOf(s);
  return weekFromMonday(mondayOf(localDateOf(localDate, zone)), s, zone);
}

/** Week `number` of `year` under the rule; a number that year does not have is a `CalendarInputError` on `number`. */
export function weekByNumber(year: number, number: number, s: CalendarSettings): Week {
  const zone = zoneOf(s);
  if (!Number.isInteger(year) || year < 1970 || year > 9999) {
    throw new CalendarInputError('year', `year ${year} is outside 1970–9999`);
  }
  const count = weeksInYear(year, s.weekRule);
  if (!Number.isInteger(number) || number < 1 || number > count) {
    throw new CalendarInputError('number', `week ${number} does not exist in ${year} under ${s.weekRule} (weeks 1–${count})`);
  }
  const monday =
    s.weekRule === 'ISO_8601'
      ? DateTime.fromObject({ weekYear: year, weekNumber: number, weekday: 1 }, { zone: 'utc' })
      : firstDayWeekOne(year).plus({ weeks: number - 1 });
  return weekFromMonday(monday, s, zone);
}

/** `第03周 2023-01-09` (zh-CN) or `Week 03 · 2023-01-09` (en). */
export function weekLabel(week: Pick<Week, 'number' | 'startDate'>, locale: Locale): string {
  const n = String(week.number).padStart(2, '0');
  return locale === 'zh-CN' ? `第${n}周 ${week.startDate}` : `Week ${n} · ${week.startDate}`;
}

/** The local day containing an instant, or the day a `YYYY-MM-DD` names. */
export function dayOf(x: Date | string, s: CalendarSettings): Period {
  const zone = zoneOf(s);
  const d = localDateOf(x, zone);
  return period('DAY', d, d.plus({ days: 1 }), zone);
}

export function monthOf(x: Date | string, s: CalendarSettings): Period {
  const zone = zoneOf(s);
  const first = localDateOf(x, zone).startOf('month');
  return period('MONTH', first, first.plus({ months: 1 }), zone);
}

export function quarterOf(x: Date | string, s: CalendarSettings): Period {
  const zone = zoneOf(s);
  const first = localDateOf(x, zone).startOf('quarter');
  return period('QUARTER', first, first.plus({ months: 3 }), zone);
}

/** The calendar year, 1 January to 31 December local. */
export function yearOf(x: Date | string, s: CalendarSettings): Period {
  const zone = zoneOf(s);
  const first = localDateOf(x, zone).startOf('year');
  return period('YEAR', first, first.plus({ years: 1 }), zone);
}

/** `[local 1 January 00:00, instant)`: the window of a year-to-date figure. */
export function yearToDate(instant: Date, s: CalendarSettings): Period {
  const zone = zoneOf(s);
  const today = localDateOf(instant, zone);
  const first = today.startOf('year');
  return { kind: 'YEAR_TO_DATE', startDate: iso(first), endDate: iso(today), startsAt: startOfLocalDay(first, zone), endsAt: new Date(instant.getTime()) };
}

/** The period of a kind containing an instant or local date. */
export function periodOf(kind: Exclude<PeriodKind, 'YEAR_TO_DATE'>, x: Date | string, s: CalendarSettings): Period {
  switch (kind) {
    case 'DAY':
      return dayOf(x, s);
    case 'WEEK':
      return typeof x === 'string' ? weekOfDate(x, s) : weekOfInstant(x, s);
    case 'MONTH':
      return monthOf(x, s);
    case 'QUARTER':
      return quarterOf(x, s);
    case 'YEAR':
      return yearOf(x, s);
    default:
      // Unreachable from typed code; a caller passing an unchecked string gets a named error, not undefined.
      throw new CalendarInputError('kind', `unknown period kind "${String(kind as unknown)}"`);
  }
}

/**
 * The previous calendar period of the same kind: the week before, the month before… (which may
 * differ in length: DST, month lengths). For YEAR_TO_DATE, the same span one year earlier.
 */
export function previousPeriod(p: Period, s: CalendarSettings): Period {
  const zone = zoneOf(s);
  if (p.kind === 'YEAR_TO_DATE') {
    const end = DateTime.fromJSDate(p.endsAt, { zone }).minus({ years: 1 });
    return yearToDate(end.toJSDate(), s);
  }
  const dayBefore = iso(plain(parseLocalDate(p.startDate, 'startDate')).minus({ days: 1 }));
  return periodOf(p.kind, dayBefore, s);
}

/**
 * The instants a window may span: from 1900, wide enough for "everything" (nothing is stored
 * before 1970), to 9999-12-31T00:00Z, so that a local date in any zone (offsets up to +14 h)
 * is still written `YYYY-MM-DD`.
 */
export const EARLIEST_WINDOW_START = new Date('1900-01-01T00:00:00Z');
export const LATEST_WINDOW_END = new Date('9999-12-31T00:00:00Z');

/**
 * The window of equal duration immediately before: `[from − (to − from), from)`, starting no
 * earlier than EARLIEST_WINDOW_START (empty when `from` is that instant).
 */
export function previousWindow(w: TimeWindow): TimeWindow {
  const length = w.endsAt.getTime() - w.startsAt.getTime();
  const startsAt = Math.max(w.startsAt.getTime() - length, Math.min(EARLIEST_WINDOW_START.getTime(), w.startsAt.getTime()));
  return { startsAt: new Date(startsAt), endsAt: new Date(w.startsAt.getTime()) };
}
