import type { Direction } from '@tally/db';
import type { PaymentTotals } from '@tally/domain';

/** A metric's figure: `value` with the numerator and denominator it came from. */
export interface MetricFigure {
  value: number | null;
  numerator: number;
  denominator: number | null;
}

export interface MetricDefinition {
  key: string;
  name: string;
  description: string;
  unit: 'ratio' | 'count';
  /** Which counters the metric reads; a change notice for them may change its value. */
  direction: Direction;
  figure(t: PaymentTotals): MetricFigure;
}

const effective = (t: PaymentTotals): MetricFigure => ({ value: t.effectiveRate, numerator: t.succeeded, denominator: t.eligible });
const attempts = (t: PaymentTotals): MetricFigure => ({ value: t.attempts, numerator: t.attempts, denominator: null });

/**
 * Every metric other teams can read or subscribe to, by a stable key. Later domains add
 * their own entries here.
 */
export const METRICS: readonly MetricDefinition[] = [
  {
    key: 'payments.pay_in.effective_success_rate',
    name: '入金有效成功率 · Pay-in effective success rate',
    description: 'Succeeded pay-ins over pay-ins the payment system is accountable for (user-caused failures excluded).',
    unit: 'ratio',
    direction: 'PAY_IN',
    figure: effective,
  },
  {
    key: 'payments.payout.effective_success_rate',
    name: '出金有效成功率 · Payout effective success rate',
    description: 'Succeeded payouts over payouts the payment system is accountable for (user-caused failures excluded).',
    unit: 'ratio',
    direction: 'PAY_OUT',
    figure: effective,
  },
  {
    key: 'payments.pay_in.attempts',
    name: '入金笔数 · Pay-in attempts',
    description: 'Pay-in attempts of any outcome.',
    unit: 'count',
    direction: 'PAY_IN',
    figure: attempts,
  },
  {
    key: 'payments.payout.attempts',
    name: '出金笔数 · Payout attempts',
    description: 'Payout attempts of any outcome.',
    unit: 'count',
    direction: 'PAY_OUT',
    figure: attempts,
  },
];

const BY_KEY = new Map(METRICS.map((m) => [m.key, m]));

export function findMetric(key: string): MetricDefinition | undefined {
  return BY_KEY.get(key);
}
