import { readDayCounts, readDayTotals, readMinuteCounts, readMinuteTotals, type ClassTotalsRow, type CountRow, type Database, type Direction } from '@tally/db';
import {
  assertWindow,
  CalendarInputError,
  EARLIEST_WINDOW_START,
  MAX_SERIES_POINTS,
  pointIndexOf,
  seriesPoints,
  splitByLocalDays,
  startOfLocalDate,
  startOfLocalHour,
  totalsOfClasses,
  type Attribution,
  type CalendarSettings,
  type DaySplit,
  type Granularity,
  type OutcomeClassCounts,
  type PaymentTotals,
  type TimeWindow,
} from '@tally/domain';
import { LRUCache } from 'lru-cache';

export interface WindowFigures extends PaymentTotals {
  from: Date;
  to: Date;
  lowVolume: boolean;
  asOf: Date | null;
}

export interface SeriesPoint extends PaymentTotals {
  from: Date;
  to: Date;
  channel: string | null;
}

export interface FailureShare {
  code: string;
  attribution: Attribution;
  count: number;
  share: number;
}

export interface ReadContext {
  calendar: CalendarSettings;
  attributionOf: (code: string) => Attribution;
  lowVolumeThreshold: number;
}

/**
 * A bounded memo of a pure function (least recently used entries go first). Calendar
 * boundaries depend only on their arguments and the runtime's time-zone rules, yet computing
 * them (Luxon over Intl) cost more CPU than the rest of a 30-day series request.
 */
class Memo<V extends object | number> {
  private readonly entries: LRUCache<string, V>;
  constructor(capacity: number) {
    this.entries = new LRUCache<string, V>({ max: capacity });
  }
  get(key: string, compute: () => V): V {
    let v = this.entries.get(key);
    if (v === undefined) this.entries.set(key, (v = compute()));
    return v;
  }
}

const pointsMemo = new Memo<readonly TimeWindow[]>(256);
const dayStartMemo = new Memo<number>(20_000);

/** `seriesPoints`, remembered per window, granularity and calendar (callers never mutate points). */
function memoSeriesPoints(from: Date, to: Date, granularity: Granularity, calendar: CalendarSettings): readonly TimeWindow[] {
  const key = `${from.getTime()}|${to.getTime()}|${granularity}|${calendar.timeZone}|${calendar.weekRule}`;
  return pointsMemo.get(key, () => seriesPoints(from, to, granularity, calendar));
}

const splitMemo = new Memo<DaySplit>(256);

/** `splitByLocalDays`, remembered per window and zone (callers never mutate the split). */
function memoSplitByLocalDays(from: Date, to: Date, zone: string): DaySplit {
  return splitMemo.get(`${from.getTime()}|${to.getTime()}|${zone}`, () => splitByLocalDays(from, to, zone));
}

/** `startOfLocalDate`, remembered per local date and zone. */
function memoStartOfLocalDate(localDate: string, zone: string): number {
  return dayStartMemo.get(`${zone}|${localDate}`, () => startOfLocalDate(localDate, zone));
}

function asOf(rows: readonly { lastOccurredAt: Date }[]): Date | null {
  let max: Date | null = null;
  for (const r of rows) if (!max || r.lastOccurredAt > max) max = r.lastOccurredAt;
  return max;
}

/**
 * Payment figures from the additive counters: whole local days from the day table, the
 * rest from the minute table — the same sums whatever the bucket, so a figure never depends
 * on how it was stored. A fixed number of statements per call, whatever the channels or points.
 * Whole days come already summed by outcome class (the day totals, kept by the db package);
 * minute reads attribute failure codes in the same read (readMinuteTotals).
 */
export class PaymentMetricsService {
  constructor(private readonly db: Database) {}

  /** Counter rows of a window summed per channel and failure code (for breakdowns). */
  private async windowCodeRows(direction: Direction, w: TimeWindow, channel: string | null, zone: string): Promise<CountRow[]> {
    assertWindow(w.startsAt, w.endsAt);
    const m = this.db.dataSource.manager;
    const split = memoSplitByLocalDays(w.startsAt, w.endsAt, zone);
    const [days, minutes] = await Promise.all([
      split.days ? readDayCounts(m, { direction, ...split.days, channel, perDay: false }) : [],
      readMinuteCounts(m, { direction, ranges: split.edges.map((e) => ({ from: e.startsAt, to: e.endsAt })), channel, binSeconds: null, origin: w.startsAt }),
    ]);
    return [...days, ...minutes];
  }

  async figures(direction: Direction, w: TimeWindow, channel: string | null, ctx: ReadContext): Promise<WindowFigures> {
    // The previous window of one starting at the earliest instant allowed is empty (previousWindow).
    if (w.startsAt.getTime() === EARLIEST_WINDOW_START.getTime() && w.endsAt.getTime() === w.startsAt.getTime()) {
      const none = totalsOfClasses({ succeeded: 0, userFailures: 0, systemFailures: 0, unclassifiedFailures: 0 });
      return { ...none, from: w.startsAt, to: w.endsAt, lowVolume: none.eligible < ctx.lowVolumeThreshold, asOf: null };
    }
    assertWindow(w.startsAt, w.endsAt);
    const m = this.db.dataSource.manager;
    const split = memoSplitByLocalDays(w.startsAt, w.endsAt, ctx.calendar.timeZone);
    const [days, minutes] = await Promise.all([
      split.days ? readDayTotals(m, { direction, ...split.days, channel, perDay: false, perChannel: false }) : [],
      readMinuteTotals(m, {
        direction,
        ranges: split.edges.map((e) => ({ from: e.startsAt, to: e.endsAt })),
        channel,
        binSeconds: null,
        origin: w.startsAt,
        perChannel: false,
      }),
    ]);
    const rows = [...days, ...minutes];
    const sum = { succeeded: 0, userFailures: 0, systemFailures: 0, unclassifiedFailures: 0 };
    for (const r of rows) addClasses(sum, r);
    const totals = totalsOfClasses(sum);
    return { ...totals, from: w.startsAt, to: w.endsAt, lowVolume: totals.eligible < ctx.lowVolumeThreshold, asOf: asOf(rows) };
  }

  async series(direction: Direction, w: TimeWindow, granularity: Granularity, byChannel: boolean, ctx: ReadContext): Promise<SeriesPoint[]> {
    const points = memoSeriesPoints(w.startsAt, w.endsAt, granularity, ctx.calendar);
    const zone = ctx.calendar.timeZone;
    const m = this.db.dataSource.manager;
    // Each row lands in the point containing its time key.
    const index: number[] = [];
    const rows: ClassTotalsRow[] = [];
    if (granularity === 'DAY' || granularity === 'WEEK' || granularity === 'MONTH') {
      const split = memoSplitByLocalDays(w.startsAt, w.endsAt, zone);
      const [days, edges] = await Promise.all([
        split.days ? readDayTotals(m, { direction, ...split.days, channel: null, perDay: true, perChannel: byChannel }) : [],
        readMinuteTotals(m, {
          direction,
          ranges: split.edges.map((e) => ({ from: e.startsAt, to: e.endsAt })),
          channel: null,
          binSeconds: 60,
          origin: w.startsAt,
          perChannel: byChannel,
        }),
      ]);
      const dayStart = new Map<string, number>();
      for (const r of days) {
        let t = dayStart.get(r.key);
        if (t === undefined) dayStart.set(r.key, (t = memoStartOfLocalDate(r.key, zone)));
        index.push(pointIndexOf(points, t));
        rows.push(r);
      }
      for (const r of edges) {
        index.push(pointIndexOf(points, Date.parse(r.key)));
        rows.push(r);
      }
    } else {
      const origin = granularity === 'HOUR' ? startOfLocalHour(w.startsAt, zone) : w.startsAt;
      const read = await readMinuteTotals(m, {
        direction,
        ranges: [{ from: w.startsAt, to: w.endsAt }],
        channel: null,
        binSeconds: granularity === 'HOUR' ? 3600 : 60,
        origin,
        // Local hours are 3,600 s apart unless the window crosses an offset change by a
        // fraction of an hour (Lord Howe's DST): then an hour bin would straddle two points.
        binStarts: granularity === 'HOUR' && !onHourGrid(points, origin.getTime()) ? points.map((p) => p.startsAt) : undefined,
        perChannel: byChannel,
      });
      for (const r of read) {
        index.push(pointIndexOf(points, Math.max(Date.parse(r.key), w.startsAt.getTime())));
        rows.push(r);
      }
    }

    const groups: (string | null)[] = byChannel ? [...new Set(rows.map((r) => r.channel!))].sort() : [null];
    if (points.length * groups.length > MAX_SERIES_POINTS) {
      throw new CalendarInputError(
        'groupBy',
        `${points.length} ${granularity} points × ${groups.length} channels exceed ${MAX_SERIES_POINTS} points; use a coarser granularity, a shorter window or one channel`,
      );
    }
    const groupIndex = new Map(groups.map((g, i) => [g, i]));
    // Sums of point i and group g at sums[i * groups.length + g].
    const sums = Array.from({ length: points.length * groups.length }, () => ({ succeeded: 0, userFailures: 0, systemFailures: 0, unclassifiedFailures: 0 }));
    for (let k = 0; k < rows.length; k++) {
      if (index[k]! < 0) continue;
      addClasses(sums[index[k]! * groups.length + (byChannel ? groupIndex.get(rows[k]!.channel)! : 0)]!, rows[k]!);
    }
    const out: SeriesPoint[] = [];
    for (let i = 0; i < points.length; i++) {
      const pt = points[i]!;
      for (let g = 0; g < groups.length; g++) {
        const t = totalsOfClasses(sums[i * groups.length + g]!);
        // Written out, not spread: V8 spreads these objects (whose rates are a number or null)
        // on a slow path, ≈ 4 µs a point, and the copies come out in dictionary mode, slower
        // for GraphQL to read too. 180 points cost 0.8 ms that way (docs/benchmarks.md).
        out.push({
          attempts: t.attempts,
          succeeded: t.succeeded,
          userFailures: t.userFailures,
          systemFailures: t.systemFailures,
          unclassifiedFailures: t.unclassifiedFailures,
          eligible: t.eligible,
          effectiveRate: t.effectiveRate,
          rawRate: t.rawRate,
          from: new Date(pt.startsAt.getTime()),
          to: new Date(pt.endsAt.getTime()),
          channel: groups[g] ?? null,
        });
      }
    }
    return out;
  }

  /** Failures of a window by code, largest first; share is of all failures in the window. */
  async breakdown(direction: Direction, w: TimeWindow, channel: string | null, first: number, ctx: ReadContext): Promise<FailureShare[]> {
    const rows = await this.windowCodeRows(direction, w, channel, ctx.calendar.timeZone);
    const byCode = new Map<string, number>();
    let total = 0;
    for (const r of rows) {
      if (!r.failureCode) continue;
      byCode.set(r.failureCode, (byCode.get(r.failureCode) ?? 0) + r.events);
      total += r.events;
    }
    return [...byCode]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, first)
      .map(([code, count]) => ({ code, attribution: ctx.attributionOf(code), count, share: count / total }));
  }
}

const HOUR_MS = 3_600_000;

/** Whether every point after the first starts a whole number of hours after `origin` (µs for 5,000 points). */
function onHourGrid(points: readonly TimeWindow[], origin: number): boolean {
  for (let i = 1; i < points.length; i++) if ((points[i]!.startsAt.getTime() - origin) % HOUR_MS !== 0) return false;
  return true;
}

function addClasses(into: OutcomeClassCounts, r: OutcomeClassCounts): void {
  into.succeeded += r.succeeded;
  into.userFailures += r.userFailures;
  into.systemFailures += r.systemFailures;
  into.unclassifiedFailures += r.unclassifiedFailures;
}
