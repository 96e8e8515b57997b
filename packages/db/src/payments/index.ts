export * from './payment-events.repository.js';
export * from './payment-counts.repository.js';
