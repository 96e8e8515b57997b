import { DateTime } from 'luxon';
import { CalendarInputError } from '../calendar/calendar.errors.js';
import { EARLIEST_WINDOW_START, LATEST_WINDOW_END, localDateAt, localDayStart, periodOf, type CalendarSettings, type TimeWindow } from '../calendar/calendar.js';

export type Granularity = 'MINUTE' | 'HOUR' | 'DAY' | 'WEEK' | 'MONTH';

export const MAX_SERIES_POINTS = 5_000;
/** MINUTE series are for incident-scale windows; longer ones would be tens of thousands of points. */
export const MAX_MINUTE_WINDOW_MS = 48 * 3_600_000;

const MINUTE = 60_000;

/**
 * Windows are `[from, to)` of whole minutes: counters are stored by minute, and a figure must
 * be exact, never interpolated inside a minute.
 */
export function assertWindow(from: Date, to: Date): void {
  for (const [field, d] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new CalendarInputError(field, 'not a valid instant');
    if (d.getTime() % MINUTE !== 0) {
      throw new CalendarInputError(field, `${d.toISOString()} is not a whole minute: seconds and milliseconds must be zero`);
    }
    if (d < EARLIEST_WINDOW_START || d > LATEST_WINDOW_END) {
      throw new CalendarInputError(field, `${d.toISOString()} is outside ${EARLIEST_WINDOW_START.toISOString()} … ${LATEST_WINDOW_END.toISOString()}`);
    }
  }
  if (to.getTime() <= from.getTime()) throw new CalendarInputError('to', 'must be later than from');
}

function nextHour(d: DateTime): DateTime {
  return d.plus({ hours: 1 });
}

/**
 * The points of a series over `[from, to)`: minutes, local hours, days, weeks (per the week
 * rule's Monday) or months of the organisation's calendar, the first and last clipped to the
 * window. Throws on MINUTE over more than 48 h or more than 5,000 points.
 */
export function seriesPoints(from: Date, to: Date, granularity: Granularity, s: CalendarSettings): TimeWindow[] {
  assertWindow(from, to);
  const span = to.getTime() - from.getTime();
  if (granularity === 'MINUTE' && span > MAX_MINUTE_WINDOW_MS) {
    throw new CalendarInputError('granularity', 'MINUTE is available for windows of at most 48 hours; use HOUR or coarser');
  }
  const roughUnit = { MINUTE: MINUTE, HOUR: 3_600_000, DAY: 86_400_000, WEEK: 7 * 86_400_000, MONTH: 28 * 86_400_000 }[granularity];
  const tooMany = () =>
    new CalendarInputError('granularity', `the window holds more than ${MAX_SERIES_POINTS} ${granularity} points; use a coarser granularity or a shorter window`);
  if (span / roughUnit > MAX_SERIES_POINTS + 2) throw tooMany();

  const points: TimeWindow[] = [];
  const clip = (start: Date, end: Date) => {
    points.push({ startsAt: new Date(Math.max(start.getTime(), from.getTime())), endsAt: new Date(Math.min(end.getTime(), to.getTime())) });
    if (points.length > MAX_SERIES_POINTS) throw tooMany();
  };
  if (granularity === 'MINUTE') {
    for (let t = from.getTime(); t < to.getTime(); t += MINUTE) clip(new Date(t), new Date(t + MINUTE));
  } else if (granularity === 'HOUR') {
    let h: DateTime = DateTime.fromJSDate(from, { zone: s.timeZone }).startOf('hour');
    while (h.toMillis() < to.getTime()) {
      const n = nextHour(h);
      clip(h.toJSDate(), n.toJSDate());
      h = n;
    }
  } else {
    // Each next period from the local date after the last one's final day, not from its end
    // instant: the same period, without converting an instant to a local date (an Intl lookup).
    // A day a zone skipped entirely (Pacific/Apia, 2011-12-30) is an empty period: left out,
    // as stepping by instants would.
    let p = periodOf(granularity, from, s);
    for (;;) {
      if (p.endsAt.getTime() > p.startsAt.getTime()) clip(p.startsAt, p.endsAt);
      if (p.endsAt.getTime() >= to.getTime()) break;
      p = periodOf(granularity, dateAfter(p.endDate), s);
    }
  }
  return points;
}

/** The local date `YYYY-MM-DD` after another (calendar arithmetic at UTC: no zone involved). */
function dateAfter(d: string): string {
  return DateTime.fromISO(d, { zone: 'utc' }).plus({ days: 1 }).toISODate()!;
}

/** A window cut into whole local days (read from day counters) and the partial-day edges around them. */
export interface DaySplit {
  /** Local dates `[fromDate, toDate)` wholly inside the window, or null. */
  days: { fromDate: string; toDate: string } | null;
  /** The parts of the window outside those days (at most two). */
  edges: TimeWindow[];
}

export function splitByLocalDays(from: Date, to: Date, timeZone: string): DaySplit {
  let firstDate = localDateAt(from, timeZone);
  if (localDayStart(firstDate, timeZone).getTime() < from.getTime()) firstDate = dateAfter(firstDate);
  const firstStart = localDayStart(firstDate, timeZone);
  const endDate = localDateAt(to, timeZone);
  const endStart = localDayStart(endDate, timeZone);
  if (endStart.getTime() <= firstStart.getTime()) return { days: null, edges: [{ startsAt: from, endsAt: to }] };
  const edges: TimeWindow[] = [];
  if (firstStart.getTime() > from.getTime()) edges.push({ startsAt: from, endsAt: firstStart });
  if (endStart.getTime() < to.getTime()) edges.push({ startsAt: endStart, endsAt: to });
  return { days: { fromDate: firstDate, toDate: endDate }, edges };
}

/** Index of the point containing instant `t` (points sorted, contiguous); -1 when outside. */
export function pointIndexOf(points: readonly TimeWindow[], t: number): number {
  let lo = 0;
  let hi = points.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const p = points[mid]!;
    if (t < p.startsAt.getTime()) hi = mid - 1;
    else if (t >= p.endsAt.getTime()) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** The instant (ms) a local date starts in a zone. */
export function startOfLocalDate(localDate: string, timeZone: string): number {
  return localDayStart(localDate, timeZone).getTime();
}

/** The start of the local hour containing an instant. */
export function startOfLocalHour(instant: Date, timeZone: string): Date {
  return DateTime.fromJSDate(instant, { zone: timeZone }).startOf('hour').toJSDate();
}
