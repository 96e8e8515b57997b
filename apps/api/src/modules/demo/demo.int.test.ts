import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { Role } from '../auth/role.js';
import { Readable } from 'node:stream';
import { importPaymentOutcomes } from '../payments/import/payment-import.js';
import { DEMO_EVENT_COUNT, demoPaymentLines } from './demo-payments.js';
import { DEMO_SOURCE_NAME, loadDemoIfEmpty } from './demo.service.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

describe('demo quarter', () => {
  it('shows the example report\'s week 03: pay-in 99.99%, payout 99.91%', async () => {
    expect([...demoPaymentLines()]).toHaveLength(DEMO_EVENT_COUNT);
    // A first start stopped half-way: the demo source holds the first 20,000 events only.
    const { source } = await t.app.services.sources.create({ name: DEMO_SOURCE_NAME, kind: 'PAYMENT_EVENTS' });
    const head = [...demoPaymentLines()].slice(0, 20_000).join('\n');
    await importPaymentOutcomes(t.app.services.paymentIngest, source.id, Readable.from([head]), { format: 'ndjson' });
    const resumed: boolean[] = [];
    const loaded = await loadDemoIfEmpty(t.app.services, pino({ level: 'silent' }), (r) => resumed.push(r));
    expect(resumed).toEqual([true]);
    expect(loaded?.events).toBe(DEMO_EVENT_COUNT);
    expect(await t.app.services.paymentIngest.storedCount(source.id)).toBe(DEMO_EVENT_COUNT);
    const viewer = await t.tokenFor(Role.VIEWER);
    const week = await t.gql<{ weekByNumber: { startsAt: string; endsAt: string; label: string } }>('{ weekByNumber(year: 2023, number: 3) { startsAt endsAt label } }', undefined, viewer);
    expect(week.data!.weekByNumber.label).toBe('第03周 2023-01-09');
    const { startsAt, endsAt } = week.data!.weekByNumber;
    const q = `query($f: DateTime!, $t: DateTime!) {
      in: paymentSuccess(direction: PAY_IN, from: $f, to: $t) { effectiveRate eligible userFailures unclassifiedFailures lowVolume }
      out: paymentSuccess(direction: PAY_OUT, from: $f, to: $t) { effectiveRate eligible unclassifiedFailures }
    }`;
    const r = await t.gql<{ in: { effectiveRate: number; eligible: number; userFailures: number; unclassifiedFailures: number; lowVolume: boolean }; out: { effectiveRate: number; unclassifiedFailures: number } }>(
      q,
      { f: startsAt, t: endsAt },
      viewer,
    );
    expect((r.data!.in.effectiveRate * 100).toFixed(2)).toBe('99.99');
    expect((r.data!.out.effectiveRate * 100).toFixed(2)).toBe('99.91');
    expect(r.data!.in.userFailures).toBeGreaterThan(0); // excluded, not ignored
    expect(r.data!.in.unclassifiedFailures).toBe(0);
    expect(r.data!.in.lowVolume).toBe(false);

    const series = await t.gql<{ paymentSuccessSeries: { attempts: number }[] }>(
      `{ paymentSuccessSeries(direction: PAY_IN, from: "2022-11-30T16:00:00Z", to: "2023-02-28T16:00:00Z", granularity: MONTH) { attempts } }`,
      undefined,
      viewer,
    );
    expect(series.data!.paymentSuccessSeries).toHaveLength(3);
    expect(series.data!.paymentSuccessSeries.every((p) => p.attempts > 30_000)).toBe(true);

    // A complete demo, or a database with other sources, is left alone.
    expect(await loadDemoIfEmpty(t.app.services, pino({ level: 'silent' }))).toBeNull();
    await t.app.services.sources.create({ name: 'real-gateway', kind: 'PAYMENT_EVENTS' });
    expect(await loadDemoIfEmpty(t.app.services, pino({ level: 'silent' }))).toBeNull();
  });
});
