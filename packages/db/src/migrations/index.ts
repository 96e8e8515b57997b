import { Foundation1764000000000 } from './1764000000000-foundation.js';
import { Payments1764100000000 } from './1764100000000-payments.js';
import { PaymentEventsWithoutSourceFk1764200000000 } from './1764200000000-payment-events-without-source-fk.js';
import { PaymentDayTotals1764300000000 } from './1764300000000-payment-day-totals.js';
import { PaymentCountersWithoutSourceFk1764400000000 } from './1764400000000-payment-counters-without-source-fk.js';

/** Every migration, oldest first. Append; never edit one that has landed. */
export const migrations = [Foundation1764000000000, Payments1764100000000, PaymentEventsWithoutSourceFk1764200000000, PaymentDayTotals1764300000000, PaymentCountersWithoutSourceFk1764400000000];
