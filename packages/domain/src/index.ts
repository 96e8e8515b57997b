export * from './calendar/calendar.js';
export * from './calendar/calendar.errors.js';
