export * from './payment-events.repository.js';
export * from './payment-counts.repository.js';
export * from './day-totals.js';
export * from './failure-codes.repository.js';
