import { periodOf, type Period } from '@tally/domain';
import type { Logger } from 'pino';
import type { ChangeNotice } from '../../changes/change-bus.js';
import type { Context } from '../../context.js';
import { readContext } from '../payments/read-context.js';
import { findMetric, type MetricDefinition } from './metric-catalog.js';
import type { MetricPeriod, MetricUpdate } from './metrics.types.js';

/** At most one message per key per second, however fast ingestion goes. */
const MIN_INTERVAL_MS = 1_000;
/** A failed computation (the database away for a moment) is retried after 1 s, 2 s, 4 s… up to this. */
const MAX_RETRY_MS = 30_000;
/** The longest delay setTimeout honours; longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The stream behind `metricUpdated`: the current value of each key at once, then a message
 * whenever a change notice touches its current period and the figure really changed (at most
 * one a second), and a new message when the calendar period rolls over. A reconnecting client
 * therefore always starts from the current value: there is no silent gap.
 */
export function metricUpdates(
  ctx: Pick<Context, 'services' | 'db'> & { newContext: () => Context },
  keys: readonly string[],
  periodKind: MetricPeriod,
  log: Logger,
): AsyncIterableIterator<MetricUpdate> {
  const defs = keys.map((k) => findMetric(k)!) as MetricDefinition[];
  const queue: MetricUpdate[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  let period: Period | undefined;
  const last = new Map<string, { value: number | null; numerator: number; denominator: number | null; period: number }>();
  let lastRun = 0;
  let timer: NodeJS.Timeout | undefined;
  let rollover: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let pending = false;
  let failures = 0;

  const compute = async () => {
    const c = ctx.newContext(); // fresh loaders: settings and attribution as of now
    const rc = await readContext(c);
    const now = new Date();
    period = periodOf(periodKind, now, rc.calendar);
    const byDirection = new Map<string, Awaited<ReturnType<typeof c.services.paymentMetrics.figures>>>();
    for (const d of new Set(defs.map((x) => x.direction))) {
      byDirection.set(d, await c.services.paymentMetrics.figures(d, { startsAt: period.startsAt, endsAt: period.endsAt }, null, rc));
    }
    for (const def of defs) {
      const f = def.figure(byDirection.get(def.direction)!);
      const before = last.get(def.key);
      const changed = !before || before.period !== period.startsAt.getTime() || before.value !== f.value || before.numerator !== f.numerator || before.denominator !== f.denominator;
      if (!changed) continue;
      last.set(def.key, { ...f, period: period.startsAt.getTime() });
      queue.push({
        key: def.key,
        period: { from: period.startsAt, to: period.endsAt },
        value: f.value,
        previousValue: before?.value ?? null,
        numerator: f.numerator,
        denominator: f.denominator,
        at: now,
      });
    }
    lastRun = Date.now();
    armRollover();
    wake?.();
  };

  const run = () => {
    if (done) return;
    if (running) {
      pending = true;
      return;
    }
    running = compute()
      .then(
        () => void (failures = 0),
        (err: unknown) => {
          // Retried on its own: the subscriber would otherwise wait, without its first value
          // or with a stale one, until some ingest happened to touch its keys.
          // Jittered (±25 %): the subscriptions of a process all fail together, and should not
          // all come back to the pool in the same instant.
          const wait = Math.min(MAX_RETRY_MS, MIN_INTERVAL_MS * 2 ** failures++) * (0.75 + Math.random() / 2);
          log.warn({ err, retryInMs: wait }, 'metric update failed; retrying');
          if (!done && !timer) {
            timer = setTimeout(() => {
              timer = undefined;
              run();
            }, wait);
          }
        },
      )
      .finally(() => {
        running = undefined;
        if (pending) {
          pending = false;
          schedule();
        }
      });
  };

  const schedule = () => {
    if (done || timer) return;
    const wait = Math.max(0, lastRun + MIN_INTERVAL_MS - Date.now());
    timer = setTimeout(() => {
      timer = undefined;
      run();
    }, wait);
  };

  // Wake at the period's end so the new period starts with a message of its own. A timer cannot
  // wait longer than 2^31 − 1 ms (≈ 24.8 days; a month or a year is longer): wait in steps.
  const armRollover = () => {
    clearTimeout(rollover);
    if (done || !period) return;
    const untilEnd = period.endsAt.getTime() - Date.now();
    if (untilEnd >= MAX_TIMER_MS) rollover = setTimeout(armRollover, MAX_TIMER_MS - 1_000);
    else rollover = setTimeout(() => schedule(), Math.max(0, untilEnd) + 50);
  };

  const touches = (n: ChangeNotice) => {
    if (n.topic === 'resync') return true;
    if (n.topic !== 'payments') return false;
    // Past the end of the period computed last: any change may belong to the next one.
    if (!period || Date.now() >= period.endsAt.getTime()) return true;
    if (!defs.some((d) => n.directions.includes(d.direction))) return false;
    return Date.parse(n.from) < period.endsAt.getTime() && Date.parse(n.to) >= period.startsAt.getTime();
  };
  const unsubscribe = ctx.services.changes.on((n) => {
    if (touches(n)) schedule();
  });
  run();

  const finish = async () => {
    done = true;
    unsubscribe();
    clearTimeout(timer);
    clearTimeout(rollover);
    wake?.();
    return { done: true as const, value: undefined };
  };

  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      while (!done) {
        const item = queue.shift();
        if (item) return { done: false, value: item };
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      return { done: true, value: undefined };
    },
    return: finish,
    async throw(err: unknown) {
      await finish();
      throw err;
    },
  };
}
