export * from './test-database.js';
export * from './payment-fixtures.js';
