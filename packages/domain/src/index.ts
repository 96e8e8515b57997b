export * from './calendar/calendar.js';
export * from './calendar/calendar.errors.js';
export * from './payments/rates.js';
export * from './payments/windows.js';
