import { readDayCounts, readMinuteCounts, type CountRow, type Database, type Direction } from '@tally/db';
import {
  assertWindow,
  CalendarInputError,
  MAX_SERIES_POINTS,
  paymentTotals,
  pointIndexOf,
  seriesPoints,
  splitByLocalDays,
  startOfLocalDate,
  startOfLocalHour,
  type Attribution,
  type CalendarSettings,
  type DaySplit,
  type Granularity,
  type PaymentTotals,
  type TimeWindow,
} from '@tally/domain';

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
class Memo<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly capacity: number) {}
  get(key: string, compute: () => V): V {
    let v = this.entries.get(key);
    if (v !== undefined) {
      this.entries.delete(key);
    } else {
      v = compute();
      if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(key, v);
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

function asOf(rows: readonly CountRow[]): Date | null {
  let max: Date | null = null;
  for (const r of rows) if (!max || r.lastOccurredAt > max) max = r.lastOccurredAt;
  return max;
}

/**
 * Payment figures from the additive counters: whole local days from the day table, the
 * rest from the minute table — the same sums whatever the bucket, so a figure never depends
 * on how it was stored. A fixed number of statements per call, whatever the channels or points.
 */
export class PaymentMetricsService {
  constructor(private readonly db: Database) {}

  /** Counter rows of a window summed per channel and failure code. */
  async windowRows(direction: Direction, w: TimeWindow, channel: string | null, zone: string): Promise<CountRow[]> {
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
    const rows = await this.windowRows(direction, w, channel, ctx.calendar.timeZone);
    const totals = paymentTotals(rows, ctx.attributionOf);
    return { ...totals, from: w.startsAt, to: w.endsAt, lowVolume: totals.eligible < ctx.lowVolumeThreshold, asOf: asOf(rows) };
  }

  async series(direction: Direction, w: TimeWindow, granularity: Granularity, byChannel: boolean, ctx: ReadContext): Promise<SeriesPoint[]> {
    const points = memoSeriesPoints(w.startsAt, w.endsAt, granularity, ctx.calendar);
    const zone = ctx.calendar.timeZone;
    const m = this.db.dataSource.manager;
    // Each row lands in the point containing its time key.
    const placed: { index: number; row: CountRow }[] = [];
    if (granularity === 'DAY' || granularity === 'WEEK' || granularity === 'MONTH') {
      const split = memoSplitByLocalDays(w.startsAt, w.endsAt, zone);
      const [days, edges] = await Promise.all([
        split.days ? readDayCounts(m, { direction, ...split.days, channel: null, perDay: true }) : [],
        readMinuteCounts(m, { direction, ranges: split.edges.map((e) => ({ from: e.startsAt, to: e.endsAt })), channel: null, binSeconds: 60, origin: w.startsAt }),
      ]);
      const dayStart = new Map<string, number>();
      for (const r of days) {
        let t = dayStart.get(r.key);
        if (t === undefined) dayStart.set(r.key, (t = memoStartOfLocalDate(r.key, zone)));
        placed.push({ index: pointIndexOf(points, t), row: r });
      }
      for (const r of edges) placed.push({ index: pointIndexOf(points, Date.parse(r.key)), row: r });
    } else {
      const origin = granularity === 'HOUR' ? startOfLocalHour(w.startsAt, zone) : w.startsAt;
      const rows = await readMinuteCounts(m, {
        direction,
        ranges: [{ from: w.startsAt, to: w.endsAt }],
        channel: null,
        binSeconds: granularity === 'HOUR' ? 3600 : 60,
        origin,
      });
      for (const r of rows) placed.push({ index: pointIndexOf(points, Math.max(Date.parse(r.key), w.startsAt.getTime())), row: r });
    }

    const groups = byChannel ? [...new Set(placed.map((p) => p.row.channel))].sort() : [null];
    if (points.length * groups.length > MAX_SERIES_POINTS) {
      throw new CalendarInputError(
        'groupBy',
        `${points.length} ${granularity} points × ${groups.length} channels exceed ${MAX_SERIES_POINTS} points; use a coarser granularity, a shorter window or one channel`,
      );
    }
    const groupIndex = new Map(groups.map((g, i) => [g, i]));
    // Rows of point i and group g at buckets[i * groups.length + g].
    const buckets: (CountRow[] | undefined)[] = new Array<CountRow[] | undefined>(points.length * groups.length);
    for (const p of placed) {
      if (p.index < 0) continue;
      const k = p.index * groups.length + (byChannel ? groupIndex.get(p.row.channel)! : 0);
      const list = buckets[k];
      if (list) list.push(p.row);
      else buckets[k] = [p.row];
    }
    const out: SeriesPoint[] = [];
    for (let i = 0; i < points.length; i++) {
      const pt = points[i]!;
      for (let g = 0; g < groups.length; g++) {
        const totals = paymentTotals(buckets[i * groups.length + g] ?? [], ctx.attributionOf);
        out.push({ ...totals, from: new Date(pt.startsAt.getTime()), to: new Date(pt.endsAt.getTime()), channel: groups[g] ?? null });
      }
    }
    return out;
  }

  /** Failures of a window by code, largest first; share is of all failures in the window. */
  async breakdown(direction: Direction, w: TimeWindow, channel: string | null, first: number, ctx: ReadContext): Promise<FailureShare[]> {
    const rows = await this.windowRows(direction, w, channel, ctx.calendar.timeZone);
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
