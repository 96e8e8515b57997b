import { readDayCounts, readMinuteCounts, type CountRow, type Database, type Direction } from '@tally/db';
import {
  assertWindow,
  paymentTotals,
  pointIndexOf,
  seriesPoints,
  splitByLocalDays,
  startOfLocalDate,
  startOfLocalHour,
  type Attribution,
  type CalendarSettings,
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
    const split = splitByLocalDays(w.startsAt, w.endsAt, zone);
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
    const points = seriesPoints(w.startsAt, w.endsAt, granularity, ctx.calendar);
    const zone = ctx.calendar.timeZone;
    const m = this.db.dataSource.manager;
    // Each row lands in the point containing its time key.
    const placed: { index: number; row: CountRow }[] = [];
    if (granularity === 'DAY' || granularity === 'WEEK' || granularity === 'MONTH') {
      const split = splitByLocalDays(w.startsAt, w.endsAt, zone);
      const [days, edges] = await Promise.all([
        split.days ? readDayCounts(m, { direction, ...split.days, channel: null, perDay: true }) : [],
        readMinuteCounts(m, { direction, ranges: split.edges.map((e) => ({ from: e.startsAt, to: e.endsAt })), channel: null, binSeconds: 60, origin: w.startsAt }),
      ]);
      const dayStart = new Map<string, number>();
      for (const r of days) {
        let t = dayStart.get(r.key);
        if (t === undefined) dayStart.set(r.key, (t = startOfLocalDate(r.key, zone)));
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
    const buckets = new Map<string, CountRow[]>();
    for (const p of placed) {
      if (p.index < 0) continue;
      const k = `${p.index}|${byChannel ? p.row.channel : ''}`;
      let list = buckets.get(k);
      if (!list) buckets.set(k, (list = []));
      list.push(p.row);
    }
    const out: SeriesPoint[] = [];
    points.forEach((pt, i) => {
      for (const g of groups) {
        const rows = buckets.get(`${i}|${g ?? ''}`) ?? [];
        out.push({ ...paymentTotals(rows, ctx.attributionOf), from: pt.startsAt, to: pt.endsAt, channel: g });
      }
    });
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
