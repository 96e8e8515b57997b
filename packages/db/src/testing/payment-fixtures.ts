import type { PaymentEventRow } from '../payments/payment-events.repository.js';

/** A deterministic pseudo-random generator (mulberry32), for tests whose failures can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stored payment event for tests: PAY_IN on alipay, 2025-06-02 03:00Z, failed with `failureCode` or succeeded (null). */
export function paymentEventRow(id: string, failureCode: string | null, over: Partial<PaymentEventRow> = {}): PaymentEventRow {
  return {
    id,
    occurredAt: new Date(Date.UTC(2025, 5, 2, 3)),
    direction: 'PAY_IN',
    channel: 'alipay',
    failureCode,
    amountMinor: null,
    currency: null,
    ...over,
  };
}
