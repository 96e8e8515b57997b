import { describe, expect, it } from 'vitest';
import { validateBySchema, validatePaymentOutcome, validRowOrNull } from './payment-outcome.validation.js';

const now = Date.parse('2024-03-01T12:00:00Z');
const rules = { now, horizonMs: 35 * 86_400_000 };
const base = { id: 'e-1', occurredAt: '2024-02-29T23:59:59.123+08:00', direction: 'PAY_IN', channel: 'alipay', status: 'SUCCEEDED', amountMinor: 1234, currency: 'CNY' };

// Each variant changes one thing of a valid event; valid and invalid ones alike.
const variants: Record<string, unknown>[] = [
  base,
  { ...base, extra: { nested: true } },
  { ...base, amountMinor: undefined, currency: undefined },
  { ...base, amountMinor: null, currency: null },
  { ...base, amountMinor: 0 },
  { ...base, amountMinor: -1 },
  { ...base, amountMinor: 1.5 },
  { ...base, amountMinor: 2 ** 53 },
  { ...base, amountMinor: '12' },
  { ...base, currency: 'XXY' },
  { ...base, currency: 'cny' },
  { ...base, status: 'FAILED', failureCode: 'BANK_TIMEOUT' },
  { ...base, status: 'FAILED' },
  { ...base, status: 'FAILED', failureCode: '' },
  { ...base, status: 'FAILED', failureCode: 'x'.repeat(65) },
  { ...base, failureCode: 'BANK_TIMEOUT' },
  { ...base, failureCode: null },
  { ...base, status: 'PENDING' },
  { ...base, direction: 'PAYOUT' },
  { ...base, direction: 'PAY_OUT' },
  { ...base, id: '' },
  { ...base, id: 'x'.repeat(128) },
  { ...base, id: 'x'.repeat(129) },
  { ...base, id: 'a\u0000b' },
  { ...base, id: 'a\uD800b' },
  { ...base, id: 42 },
  { ...base, channel: '微信支付' },
  { ...base, channel: 'x'.repeat(65) },
  { ...base, occurredAt: '2024-02-29T23:59:59+08:00' },
  { ...base, occurredAt: '2024-02-29T15:59:59Z' },
  { ...base, occurredAt: '2024-02-29T15:59:59.1Z' },
  { ...base, occurredAt: '2024-02-29t15:59:59z' },
  { ...base, occurredAt: '2023-02-29T15:59:59Z' },
  { ...base, occurredAt: '2024-04-31T00:00:00Z' },
  { ...base, occurredAt: '2024-02-30T00:00:00Z' },
  { ...base, occurredAt: '2024-01-31T00:00:00Z' },
  { ...base, occurredAt: '2024-02-29T24:00:00Z' },
  { ...base, occurredAt: '2024-02-29T15:59:59' },
  { ...base, occurredAt: '2024-02-29T15:59:59+0800' },
  { ...base, occurredAt: '2024-03-01T12:04:59Z' },
  { ...base, occurredAt: '2024-03-01T12:05:01Z' },
  { ...base, occurredAt: '2024-01-20T00:00:00Z' },
  { ...base, occurredAt: '1969-12-31T23:59:59Z' },
  { ...base, occurredAt: 1709200000000 },
];

describe('validRowOrNull (the ingest fast path)', () => {
  it('accepts exactly what the reference validation (zod) accepts in the usual form, with the same row, and nothing it rejects', () => {
    let fast = 0;
    // With the late-event horizon (push) and without (file import).
    for (const [v, r] of variants.flatMap((v) => [[v, rules], [v, { now, horizonMs: null }]] as const)) {
      const full = validateBySchema(v, 1, r);
      const row = validRowOrNull(v, r);
      if (row) {
        fast++;
        expect(full, JSON.stringify(v)).toEqual({ ok: true, event: row });
      }
      // What the ingest uses: the fast row, or the reference's answer.
      expect(validatePaymentOutcome(v, 1, r)).toEqual(full);
      if (!full.ok) expect(row, JSON.stringify(v)).toBeNull();
    }
    // The canonical valid events take the fast path (else it would not be one).
    expect(fast).toBeGreaterThanOrEqual(25);
    expect(validRowOrNull(base, rules)).not.toBeNull();
    expect(validRowOrNull({ ...base, status: 'FAILED', failureCode: 'E' }, rules)?.failureCode).toBe('E');
  });

  it('rejects leap days of non-leap years and the 31st of 30-day months (the full path names the reason)', () => {
    for (const occurredAt of ['2023-02-29T00:00:00Z', '2100-02-29T00:00:00Z', '2024-06-31T00:00:00Z']) {
      const v = { ...base, occurredAt };
      expect(validRowOrNull(v, { now, horizonMs: null })).toBeNull();
      expect(validatePaymentOutcome(v, 3, { now: Date.parse('2200-01-01T00:00:00Z'), horizonMs: null })).toMatchObject({
        ok: false,
        rejection: { line: 3, field: 'occurredAt', reason: 'occurredAt is not a real date-time' },
      });
    }
    expect(validRowOrNull({ ...base, occurredAt: '2000-02-29T00:00:00Z' }, { now, horizonMs: null })).not.toBeNull();
  });

  it('accepts every ISO 4217 code, funds and metals included, and codes ISO retired; refuses made-up ones on both paths', () => {
    // BOV, CLF, XAU, XXX, VED are in ISO's list but not in ICU's; HRK was retired in 2023.
    for (const currency of ['CNY', 'USD', 'BOV', 'CLF', 'XAU', 'XXX', 'VED', 'HRK']) {
      expect(validRowOrNull({ ...base, currency }, rules)?.currency, currency).toBe(currency);
      expect(validatePaymentOutcome({ ...base, currency }, 1, rules).ok, currency).toBe(true);
    }
    for (const currency of ['XXY', 'ABC', 'cny', 'CNYY']) {
      expect(validRowOrNull({ ...base, currency }, rules), currency).toBeNull();
      expect(validatePaymentOutcome({ ...base, currency }, 1, rules)).toMatchObject({ ok: false, rejection: { field: 'currency' } });
    }
  });
});
