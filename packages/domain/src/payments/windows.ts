import { DateTime, IANAZone } from 'luxon';
import { CalendarInputError } from '../calendar/calendar.errors.js';
import {
  assertCalendarSettings,
  EARLIEST_WINDOW_START,
  isValidTimeZone,
  LATEST_WINDOW_END,
  localDateAt,
  localDayStart,
  periodOf,
  type CalendarSettings,
  type TimeWindow,
} from '../calendar/calendar.js';

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
    assertCalendarSettings(s);
    const zone = IANAZone.create(s.timeZone);
    // Each step reuses the offset found at the previous boundary: a regular hour costs one
    // offset lookup (the one that confirms no change before its end).
    let h = localHourAtOrBefore(zone, from.getTime());
    while (h.at < to.getTime()) {
      const n = nextLocalHour(zone, h.at, h.offset);
      clip(new Date(h.at), new Date(n.at));
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

const HOUR = 3_600_000;

/** A boundary of local hours and the zone's UTC offset (ms) from it on. */
interface HourStart {
  at: number;
  offset: number;
}

/**
 * The zone's UTC offset at an instant, in ms. Luxon gives minutes, with a fraction for the
 * local mean times before standard time (Asia/Shanghai +08:05:43 until 1901): rounded to the ms.
 */
function offsetAt(zone: IANAZone, t: number): number {
  return Math.round(zone.offset(t) * 60_000);
}

/**
 * The next local-hour boundary after instant `t`, where the zone's offset is `offset`.
 *
 * Local hours are the organisation's wall-clock hours: one starts wherever the wall clock
 * reaches a whole hour (reads hh:00:00) or jumps forward past one. A backward jump that does
 * not land on a whole hour starts none: on 2026-04-05 Lord Howe's clock goes back from 02:00
 * (+11) to 01:30 (+10:30), and its 01:00 hour lasts 1.5 h. Stepping Luxon's DateTime an hour
 * at a time agrees only where offsets change by whole hours (Berlin's repeated 02:00 hour is two
 * hours here too, since the clock lands on 02:00:00 again); elsewhere it cut elapsed hours.
 */
function nextLocalHour(zone: IANAZone, t: number, offset: number): HourStart {
  for (;;) {
    const wallHour = (Math.floor((t + offset) / HOUR) + 1) * HOUR - offset;
    const then = offsetAt(zone, wallHour);
    if (then === offset) return { at: wallHour, offset };
    // The offset changes in (t, wallHour]: find the first instant with another one. Offsets
    // change at whole seconds and Luxon reads them per second, so ≈ 22 lookups, at transitions only.
    let same = t;
    let changed = wallHour;
    while (changed - same > 1) {
      const mid = same + Math.floor((changed - same) / 2);
      if (offsetAt(zone, mid) === offset) same = mid;
      else changed = mid;
    }
    const next = changed === wallHour ? then : offsetAt(zone, changed);
    const wallAfter = changed + next;
    const startsHour =
      next > offset
        ? Math.floor(wallAfter / HOUR) * HOUR >= changed + offset // jumped forward onto or past a whole hour
        : wallAfter % HOUR === 0; // went back onto a whole hour (-0 for instants before 1970 is 0 too)
    if (startsHour) return { at: changed, offset: next };
    t = changed;
    offset = next;
  }
}

/**
 * The last local-hour boundary at or before `t`. Near an offset change, found by stepping
 * forward from a few hours before with `nextLocalHour`, so that it is one of the boundaries a
 * series steps through; an hour lasts at most about 1 h plus the largest backward jump, hence
 * the widening search.
 */
function localHourAtOrBefore(zone: IANAZone, t: number): HourStart {
  // Usually the whole wall hour at or before t under t's offset, when the offset is the same
  // there: the clock reads hh:00:00 at it, and reaches no other whole hour before t.
  const o = offsetAt(zone, t);
  const wallHour = Math.floor((t + o) / HOUR) * HOUR - o;
  if (offsetAt(zone, wallHour) === o) return { at: wallHour, offset: o };
  for (let back = 3 * HOUR; ; back *= 4) {
    const from = t - back;
    let h = nextLocalHour(zone, from, offsetAt(zone, from));
    if (h.at > t) continue;
    for (;;) {
      const n = nextLocalHour(zone, h.at, h.offset);
      if (n.at > t) return h;
      h = n;
    }
  }
}

/** The start of the local hour containing an instant (the start of its HOUR series point). */
export function startOfLocalHour(instant: Date, timeZone: string): Date {
  if (!isValidTimeZone(timeZone)) throw new CalendarInputError('timeZone', `unknown time zone "${timeZone}": use an IANA name such as Asia/Shanghai`);
  // An invalid instant's NaN offset never equals itself: the boundary search would not end.
  if (!(instant instanceof Date) || !Number.isFinite(instant.getTime())) throw new CalendarInputError('instant', 'not a valid instant');
  return new Date(localHourAtOrBefore(IANAZone.create(timeZone), instant.getTime()).at);
}
