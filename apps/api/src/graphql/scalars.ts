import { DateResolver, DateTimeResolver } from 'graphql-scalars';

/** `Date`: a calendar date `YYYY-MM-DD` (no time, no zone), from graphql-scalars. */
export const DateScalar = DateResolver;
/** `DateTime`: an RFC 3339 instant with an explicit offset, from graphql-scalars. */
export const DateTimeScalar = DateTimeResolver;

/** graphql-scalars parses a `Date` to UTC midnight; the calendar wants the plain local date back. */
export function localDateOf(value: Date): string {
  return value.toISOString().slice(0, 10);
}
