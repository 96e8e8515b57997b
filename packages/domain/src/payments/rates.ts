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

/**
 * Totals a window from its counters. Attribution is looked up now, at read time, so that
 * reclassifying a code corrects past figures too. Unclassified failures count against the
 * system (conservative) until someone classifies them.
 */
export function paymentTotals(counts: Iterable<OutcomeCount>, attributionOf: (code: string) => Attribution): PaymentTotals {
  let succeeded = 0;
  let user = 0;
  let system = 0;
  let unclassified = 0;
  for (const c of counts) {
    if (!c.failureCode) {
      succeeded += c.events;
      continue;
    }
    switch (attributionOf(c.failureCode)) {
      case 'USER':
        user += c.events;
        break;
      case 'SYSTEM':
        system += c.events;
        break;
      case 'UNCLASSIFIED':
        unclassified += c.events;
        break;
    }
  }
  const attempts = succeeded + user + system + unclassified;
  const eligible = succeeded + system + unclassified;
  return {
    attempts,
    succeeded,
    userFailures: user,
    systemFailures: system,
    unclassifiedFailures: unclassified,
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
