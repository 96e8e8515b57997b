import 'reflect-metadata';
import { afterEach, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { ChangeNotice } from '../../changes/change-bus.js';
import { metricUpdates } from './metric-updates.js';
import { MetricPeriod } from './metrics.types.js';

// The rollover timer, under fake timers: the services are stand-ins (a constant figure and a
// change bus of hand-sent notices) because what is tested is when messages are sent.
afterEach(() => vi.useRealTimers());

function subscribe(now: string, period: MetricPeriod, opts: { failures?: number } = {}) {
  vi.useFakeTimers({ now: new Date(now) });
  const handlers = new Set<(n: ChangeNotice) => void>();
  let attempts = 5;
  let failures = opts.failures ?? 0;
  const c = {
    loaders: {
      settings: { load: async () => ({ timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY', lowVolumeThreshold: 0 }) },
      attributions: { load: async () => new Map() },
    },
    services: {
      changes: { on: (h: (n: ChangeNotice) => void) => (handlers.add(h), () => handlers.delete(h)) },
      paymentMetrics: {
        figures: async () => {
          if (failures > 0) {
            failures--;
            throw new Error('Connection terminated unexpectedly');
          }
          return { attempts, succeeded: attempts, userFailures: 0, systemFailures: 0, unclassifiedFailures: 0, eligible: attempts, effectiveRate: 1, rawRate: 1 };
        },
      },
    },
  };
  const ctx = { services: c.services, db: null, newContext: () => c } as never;
  const updates = metricUpdates(ctx, ['payments.pay_in.attempts'], period, pino({ level: 'silent' })) as AsyncIterableIterator<{ period: { from: Date }; value: number | null }>;
  return {
    updates,
    ingest(at: string) {
      attempts++;
      for (const h of handlers) h({ topic: 'payments', directions: ['PAY_IN'], from: at, to: at });
    },
  };
}

/** Messages sent while fake time advances by `ms`, minute by minute. */
async function during(updates: AsyncIterableIterator<{ period: { from: Date }; value: number | null }>, ms: number) {
  const got: { from: string; value: number | null }[] = [];
  let next = updates.next();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = await Promise.race([next, vi.advanceTimersByTimeAsync(60_000).then(() => null)]);
    if (r && !r.done) {
      got.push({ from: r.value.period.from.toISOString(), value: r.value.value });
      next = updates.next();
    }
  }
  return got;
}

it('a MONTH subscription opened a month before the rollover (beyond one timer) starts the new month with a message of its own', async () => {
  // 2026-12-01 08:00 in Shanghai; December ends 2026-12-31T16:00Z, 30⅓ days away: more than 2^31 − 1 ms.
  const s = subscribe('2026-12-01T00:00:00Z', MetricPeriod.MONTH);
  const first = await s.updates.next();
  expect(first.value.period.from.toISOString()).toBe('2026-11-30T16:00:00.000Z');
  await vi.advanceTimersByTimeAsync(Date.parse('2026-12-31T15:00:00Z') - Date.now());
  const rollover = await during(s.updates, 2 * 3_600_000); // nothing ingested: a quiet source
  expect(rollover.map((m) => m.from)).toEqual(['2026-12-31T16:00:00.000Z']);
  // And January's changes reach it.
  s.ingest('2026-12-31T18:00:00.000Z');
  const later = await during(s.updates, 5 * 60_000);
  expect(later).toEqual([{ from: '2026-12-31T16:00:00.000Z', value: 6 }]);
  await s.updates.return?.();
});

it('a YEAR subscription opened in January rolls over into the next year', async () => {
  const s = subscribe('2026-01-05T00:00:00Z', MetricPeriod.YEAR);
  expect((await s.updates.next()).value.period.from.toISOString()).toBe('2025-12-31T16:00:00.000Z');
  await vi.advanceTimersByTimeAsync(Date.parse('2026-12-31T15:00:00Z') - Date.now());
  const rollover = await during(s.updates, 2 * 3_600_000);
  expect(rollover.map((m) => m.from)).toEqual(['2026-12-31T16:00:00.000Z']);
  await s.updates.return?.();
});

it('retries a computation that failed (the database away for a moment) on its own, without waiting for an ingest', async () => {
  const s = subscribe('2026-12-01T00:00:00Z', MetricPeriod.DAY, { failures: 3 });
  const started = Date.now();
  let first: IteratorResult<{ period: { from: Date }; value: number | null }> | undefined;
  void s.updates.next().then((r) => (first = r));
  // Retried after about 1, 2 and 4 s (±25 %): the current value arrives 5.25–8.75 s after subscribing.
  await vi.advanceTimersByTimeAsync(5_200);
  expect(first).toBeUndefined();
  await vi.advanceTimersByTimeAsync(3_600);
  expect(first?.value).toMatchObject({ value: 5 });
  expect(Date.now() - started).toBeLessThan(8_900);
  await s.updates.return?.();
});
