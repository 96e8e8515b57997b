import { Foundation1764000000000 } from './1764000000000-foundation.js';
import { Payments1764100000000 } from './1764100000000-payments.js';

/** Every migration, oldest first. Append; never edit one that has landed. */
export const migrations = [Foundation1764000000000, Payments1764100000000];
