import { describe, expect, it } from 'vitest';
import { paymentTotals, rateDeltaPoints, ratio, totalsOfClasses, type Attribution } from './rates.js';

const attribution: Record<string, Attribution> = { INSUFFICIENT_BALANCE: 'USER', BANK_TIMEOUT: 'SYSTEM' };
const of = (code: string): Attribution => attribution[code] ?? 'UNCLASSIFIED';

describe('effective success rate', () => {
  it('excludes user-caused failures from the denominator and counts unclassified against the system', () => {
    const t = paymentTotals(
      [
        { failureCode: null, events: 9_990 },
        { failureCode: 'INSUFFICIENT_BALANCE', events: 500 },
        { failureCode: 'BANK_TIMEOUT', events: 6 },
        { failureCode: 'NEW_CODE', events: 4 },
      ],
      of,
    );
    expect(t).toMatchObject({ attempts: 10_500, succeeded: 9_990, userFailures: 500, systemFailures: 6, unclassifiedFailures: 4, eligible: 10_000 });
    expect(t.effectiveRate).toBeCloseTo(0.999, 12);
    expect(t.rawRate).toBeCloseTo(9_990 / 10_500, 12);
  });

  it('sums counts split over any buckets: never an average of rates', () => {
    // Day 1: 1 of 1 succeeded (100 %); day 2: 0 of 99 (0 %). The average of rates would say 50 %.
    const days = [
      [{ failureCode: '', events: 1 }],
      [{ failureCode: 'BANK_TIMEOUT', events: 99 }],
    ];
    const t = paymentTotals(days.flat(), of);
    expect(t.effectiveRate).toBeCloseTo(0.01, 12);
  });

  it('answers null, not 0 or 1, when nothing is eligible', () => {
    const onlyUser = paymentTotals([{ failureCode: 'INSUFFICIENT_BALANCE', events: 3 }], of);
    expect(onlyUser.effectiveRate).toBeNull();
    expect(onlyUser.rawRate).toBe(0);
    expect(paymentTotals([], of)).toMatchObject({ attempts: 0, effectiveRate: null, rawRate: null });
    expect(ratio(1, 0)).toBeNull();
  });

  it('changes with reclassification', () => {
    const counts = [
      { failureCode: null, events: 98 },
      { failureCode: 'X', events: 2 },
    ];
    expect(paymentTotals(counts, () => 'UNCLASSIFIED').effectiveRate).toBeCloseTo(0.98);
    expect(paymentTotals(counts, () => 'USER').effectiveRate).toBe(1);
  });

  it('gives the same figures from counts already summed by class (as the database sums them)', () => {
    const counts = [
      { failureCode: null, events: 9_990 },
      { failureCode: 'INSUFFICIENT_BALANCE', events: 500 },
      { failureCode: 'BANK_TIMEOUT', events: 6 },
      { failureCode: 'NEW_CODE', events: 4 },
    ];
    expect(totalsOfClasses({ succeeded: 9_990, userFailures: 500, systemFailures: 6, unclassifiedFailures: 4 })).toEqual(paymentTotals(counts, of));
    expect(totalsOfClasses({ succeeded: 0, userFailures: 3, systemFailures: 0, unclassifiedFailures: 0 })).toMatchObject({ attempts: 3, eligible: 0, effectiveRate: null, rawRate: 0 });
  });

  it('gives deltas in percentage points', () => {
    expect(rateDeltaPoints(0.9999, 0.9991)).toBeCloseTo(0.08, 10);
    expect(rateDeltaPoints(null, 0.5)).toBeNull();
  });
});
