export * from './database.js';
export * from './embedded.js';
export * from './errors.js';
export * from './listener.js';
export * from './entities/index.js';
export { migrations } from './migrations/index.js';
export * from './payments/index.js';
