/** Who is accountable for a failure: the user (excluded from the effective denominator) or the system. */
export type Attribution = 'USER' | 'SYSTEM' | 'UNCLASSIFIED';

/** Summed events of one outcome: `failureCode` null or '' means succeeded. */
export interface OutcomeCount {
  failureCode: string | null;
  events: number;
}

/** The figures of a window, all from summed counts. Rates are fractions in [0, 1]. */
export interface PaymentTotals {
  attempts: number;
  succeeded: number;
  userFailures: number;
  systemFailures: number;
  unclassifiedFailures: number;
  /** succeeded + system failures + unclassified failures: attempts the payment system answers for. */
  eligible: number;
  /** succeeded / eligible; null when nothing is eligible. */
  effectiveRate: number | null;
  /** succeeded / attempts; null when there were no attempts. */
  rawRate: number | null;
}

/** n / d, or null when d is 0 (no data is not 0 % and not 100 %). */
export function ratio(numerator: number, denominator: number): number | null {
  return denominator > 0 ? numerator / denominator : null;
}

/** Summed events of a window by outcome class (what attribution makes of failure codes). */
export interface OutcomeClassCounts {
  succeeded: number;
  userFailures: number;
  systemFailures: number;
  unclassifiedFailures: number;
}

/**
 * Totals a window from its counters. Attribution is looked up now, at read time, so that
 * reclassifying a code corrects past figures too. Unclassified failures count against the
 * system (conservative) until someone classifies them.
 */
export function paymentTotals(counts: Iterable<OutcomeCount>, attributionOf: (code: string) => Attribution): PaymentTotals {
  const c: OutcomeClassCounts = { succeeded: 0, userFailures: 0, systemFailures: 0, unclassifiedFailures: 0 };
  for (const { failureCode, events } of counts) {
    if (!failureCode) {
      c.succeeded += events;
      continue;
    }
    switch (attributionOf(failureCode)) {
      case 'USER':
        c.userFailures += events;
        break;
      case 'SYSTEM':
        c.systemFailures += events;
        break;
      case 'UNCLASSIFIED':
        c.unclassifiedFailures += events;
        break;
    }
  }
  return totalsOfClasses(c);
}

/** The figures of a window whose counts were already summed by outcome class. */
export function totalsOfClasses(c: OutcomeClassCounts): PaymentTotals {
  const { succeeded, userFailures, systemFailures, unclassifiedFailures } = c;
  const attempts = succeeded + userFailures + systemFailures + unclassifiedFailures;
  const eligible = succeeded + systemFailures + unclassifiedFailures;
  return {
    attempts,
    succeeded,
    userFailures,
    systemFailures,
    unclassifiedFailures,
    eligible,
    effectiveRate: ratio(succeeded, eligible),
    rawRate: ratio(succeeded, attempts),
  };
}

/** Difference of two rates in percentage points (0.9991 → 0.9999 is +0.08); null when either is missing. */
export function rateDeltaPoints(current: number | null, previous: number | null): number | null {
  if (current === null || previous === null) return null;
  return (current - previous) * 100;
}
