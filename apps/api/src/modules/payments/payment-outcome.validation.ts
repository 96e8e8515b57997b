import { z } from 'zod';
import type { Direction, PaymentEventRow } from '@tally/db';
import currencyCodes from 'currency-codes';

/** Why one event was refused; `code` is stable for machines, `reason` is for people. */
export interface IngestRejection {
  /** 1-based: the NDJSON line, the array position, or the CSV record. */
  line: number;
  id?: string;
  field?: string;
  code: RejectionCode;
  reason: string;
}

export type RejectionCode = 'malformed' | 'invalid' | 'conflict' | 'too_late' | 'future';

const ISO_WITH_OFFSET = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))$/i;
// ISO 4217's list (currency-codes, from ISO's list one: funds codes and metals such as BOV, XAU,
// XXX included) together with the runtime's ICU list (which still knows codes ISO has retired,
// such as HRK, that backfills of older data carry, and may know newer ones first).
const CURRENCIES = new Set([...currencyCodes.codes(), ...Intl.supportedValuesOf('currency')]);

/** Parses an RFC 3339 date-time that carries an explicit offset and names a real instant. */
export function parseOccurredAt(value: string): Date | string {
  const fast = canonicalInstant(value);
  if (fast !== null) return new Date(fast);
  const m = ISO_WITH_OFFSET.exec(value);
  if (!m) {
    return /^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(value)
      ? 'needs an explicit offset (Z or ±hh:mm): a local time is ambiguous'
      : 'must be an RFC 3339 date-time with an offset, e.g. 2023-01-13T07:36:00+08:00';
  }
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  const oh = m[7] === undefined ? 0 : Number(m[7]);
  const om = m[8] === undefined ? 0 : Number(m[8]);
  const days = new Date(Date.UTC(y!, mo!, 0)).getUTCDate();
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > days || h! > 23 || mi! > 59 || (s ?? 0) > 59 || oh > 23 || om > 59) {
    return 'is not a real date-time';
  }
  const t = Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  return Number.isNaN(t) ? 'is not a real date-time' : new Date(t);
}

/** The value of ASCII digits at `s[i, i + n)`, or -1 when one of them is not a digit. */
function digits(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days of month `mo` (1–12) of year `y` in the proleptic Gregorian calendar, as Date uses. */
function daysInMonth(y: number, mo: number): number {
  return mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : DAYS_IN_MONTH[mo - 1]!;
}

/**
 * Fast path of `parseOccurredAt` for the form nearly every producer writes,
 * `YYYY-MM-DDTHH:MM:SS[.sss](Z|±HH:MM)` (upper-case T and Z, year 0100 or later): the
 * instant in epoch milliseconds, or null to let the general path decide (it accepts and
 * rejects exactly the same strings; this only skips its regular expressions and Date.parse).
 */
function canonicalInstant(v: string): number | null {
  const n = v.length;
  let ms = 0;
  let zone = 19; // where the offset starts
  if (n === 24 || n === 29) {
    if (v.charCodeAt(19) !== 46 /* . */) return null;
    ms = digits(v, 20, 3);
    if (ms < 0) return null;
    zone = 23;
  } else if (n !== 20 && n !== 25) {
    return null;
  }
  if (v.charCodeAt(4) !== 45 || v.charCodeAt(7) !== 45 || v.charCodeAt(10) !== 84 || v.charCodeAt(13) !== 58 || v.charCodeAt(16) !== 58) return null;
  const y = digits(v, 0, 4);
  const mo = digits(v, 5, 2);
  const d = digits(v, 8, 2);
  const h = digits(v, 11, 2);
  const mi = digits(v, 14, 2);
  const s = digits(v, 17, 2);
  if (y < 100 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return null;
  let offsetMinutes = 0;
  const z = v.charCodeAt(zone);
  if (n - zone === 1) {
    if (z !== 90 /* Z */) return null;
  } else {
    if ((z !== 43 && z !== 45) || v.charCodeAt(zone + 3) !== 58) return null;
    const oh = digits(v, zone + 1, 2);
    const om = digits(v, zone + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return null;
    offsetMinutes = (z === 45 ? -1 : 1) * (oh * 60 + om);
  }
  if (d > 28 && d > daysInMonth(y, mo)) return null;
  return Date.UTC(y, mo - 1, d, h, mi, s, ms) - offsetMinutes * 60_000;
}

/** C0 control characters and DEL: PostgreSQL text cannot hold NUL, and none belongs in an id or a code. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
/** `String.prototype.isWellFormed` (Node 20; not in the ES2023 typings). */
const wellFormed = (v: string) => (v as string & { isWellFormed(): boolean }).isWellFormed();

const text = (max: number) =>
  z
    .string({ error: (i) => (i.input == null ? 'is required' : 'must be a string') })
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((v) => !CONTROL.test(v), 'must not contain control characters (U+0000–U+001F, U+007F)')
    // A lone surrogate cannot be stored as UTF-8: it would become U+FFFD and its resend a conflict.
    .refine(wellFormed, 'must be valid Unicode (it holds a lone surrogate, \\uD800–\\uDFFF)');

// Unknown fields are ignored (z.object strips them), so sources can send extra context.
const eventSchema = z
  .object({
    id: text(128),
    occurredAt: z.string({ error: (i) => (i.input == null ? 'is required' : 'must be a string') }).max(64, 'must be at most 64 characters'),
    direction: z.enum(['PAY_IN', 'PAY_OUT'], { error: (i) => (i.input == null ? 'is required' : 'must be PAY_IN or PAY_OUT') }),
    channel: text(64),
    status: z.enum(['SUCCEEDED', 'FAILED'], { error: (i) => (i.input == null ? 'is required' : 'must be SUCCEEDED or FAILED') }),
    failureCode: text(64).nullish(),
    amountMinor: z
      .number({ error: 'must be a number of minor units' })
      .superRefine((n, ctx) => {
        const fail = (message: string) => ctx.addIssue({ code: 'custom', message });
        if (Math.abs(n) > Number.MAX_SAFE_INTEGER) fail(`is too large (at most ${Number.MAX_SAFE_INTEGER})`);
        else if (!Number.isInteger(n)) fail('must be a whole number of minor units');
        else if (n < 0) fail('must not be negative');
      })
      .nullish(),
    currency: z
      .string({ error: 'must be a string' })
      .refine((c) => CURRENCIES.has(c), 'must be an ISO 4217 code such as CNY')
      .nullish(),
  })
  .superRefine((e, ctx) => {
    if (e.status === 'FAILED' && !e.failureCode) ctx.addIssue({ code: 'custom', path: ['failureCode'], message: 'is required when status is FAILED' });
    if (e.status === 'SUCCEEDED' && e.failureCode) ctx.addIssue({ code: 'custom', path: ['failureCode'], message: 'must be absent when status is SUCCEEDED' });
  });

const isText = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length >= 1 && v.length <= max && !CONTROL.test(v) && wellFormed(v);

/**
 * The stored row of an event that passes every rule, checked without intermediate objects (the
 * ingest's usual case, thousands of events a request); null for anything else, which
 * `validateBySchema` then answers with its exact rejection. Accepts exactly what
 * `validateBySchema` accepts and returns the same row (tested against it).
 */
export function validRowOrNull(value: unknown, opts: { now: number; horizonMs: number | null }): PaymentEventRow | null {
  if (typeof value !== 'object' || value === null) return null;
  const { id, occurredAt, direction, channel, status, failureCode, amountMinor, currency } = value as Record<string, unknown>;
  if (!isText(id, 128) || typeof occurredAt !== 'string' || !isText(channel, 64)) return null;
  if (direction !== 'PAY_IN' && direction !== 'PAY_OUT') return null;
  let code: string | null = null;
  if (status === 'SUCCEEDED') {
    if (failureCode !== undefined && failureCode !== null) return null;
  } else if (status === 'FAILED' && isText(failureCode, 64)) {
    code = failureCode;
  } else {
    return null;
  }
  if (amountMinor !== undefined && amountMinor !== null && !(Number.isSafeInteger(amountMinor) && (amountMinor as number) >= 0)) return null;
  if (currency !== undefined && currency !== null && !(typeof currency === 'string' && CURRENCIES.has(currency))) return null;
  const t = canonicalInstant(occurredAt);
  if (t === null || t > opts.now + FUTURE_MS || t < 0 || (opts.horizonMs !== null && t < opts.now - opts.horizonMs)) return null;
  return {
    id,
    occurredAt: new Date(t),
    direction,
    channel,
    failureCode: code,
    amountMinor: (amountMinor as number | null | undefined) ?? null,
    currency: (currency as string | null | undefined) ?? null,
  };
}

const FUTURE_MS = 5 * 60_000;

export type ValidationOutcome = { ok: true; event: PaymentEventRow } | { ok: false; rejection: IngestRejection };

function rejection(value: unknown, line: number, field: string | undefined, code: RejectionCode, reason: string): ValidationOutcome {
  const id = typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' ? (value as { id: string }).id.slice(0, 128) : undefined;
  return { ok: false, rejection: { line, ...(id !== undefined ? { id } : {}), ...(field ? { field } : {}), code, reason } };
}

/** Validates one decoded event; `now` and the horizon decide `future` and `too_late`. */
export function validatePaymentOutcome(
  value: unknown,
  line: number,
  opts: { now: number; horizonMs: number | null },
): ValidationOutcome {
  const row = validRowOrNull(value, opts);
  return row ? { ok: true, event: row } : validateBySchema(value, line, opts);
}

/**
 * The reference validation (zod, then the instant's rules): what `validatePaymentOutcome` does
 * for anything `validRowOrNull` declines, naming the first field at fault and why. Exported so
 * tests can hold the fast path against it.
 */
export function validateBySchema(value: unknown, line: number, opts: { now: number; horizonMs: number | null }): ValidationOutcome {
  const reject = (field: string | undefined, code: RejectionCode, reason: string) => rejection(value, line, field, code, reason);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return reject(undefined, 'invalid', 'an event must be a JSON object');
  const parsed = eventSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? String(issue.path[0]) : undefined;
    return reject(field, 'invalid', `${field ?? 'event'} ${issue.message}`);
  }
  const e = parsed.data;
  const occurredAt = parseOccurredAt(e.occurredAt);
  if (typeof occurredAt === 'string') return reject('occurredAt', 'invalid', `occurredAt ${occurredAt}`);
  const t = occurredAt.getTime();
  if (t > opts.now + FUTURE_MS) return reject('occurredAt', 'future', 'occurredAt is more than 5 minutes in the future');
  // The file import has no horizon: without a floor, a year-0 instant would reach PostgreSQL
  // (which cannot store it as written) and fail its whole batch.
  if (t < 0) return reject('occurredAt', 'invalid', 'occurredAt is before 1970-01-01T00:00:00Z: not the time of a payment');
  if (opts.horizonMs !== null && t < opts.now - opts.horizonMs) {
    return reject('occurredAt', 'too_late', `occurredAt is older than the late-event horizon (${Math.round(opts.horizonMs / 86_400_000)} days); backfill it with the file import`);
  }
  return {
    ok: true,
    event: {
      id: e.id,
      occurredAt,
      direction: e.direction as Direction,
      channel: e.channel,
      failureCode: e.status === 'FAILED' ? e.failureCode! : null,
      amountMinor: e.amountMinor ?? null,
      currency: e.currency ?? null,
    },
  };
}

/**
 * The first field whose content differs, by the event's field names, or null when the two are
 * the same event (a duplicate). Instants compare as instants, whatever offset was written.
 */
export function differingField(a: PaymentEventRow, b: PaymentEventRow): string | null {
  if (a.occurredAt.getTime() !== b.occurredAt.getTime()) return 'occurredAt';
  if (a.direction !== b.direction) return 'direction';
  if (a.channel !== b.channel) return 'channel';
  if ((a.failureCode === null) !== (b.failureCode === null)) return 'status';
  if (a.failureCode !== b.failureCode) return 'failureCode';
  if ((a.amountMinor ?? null) !== (b.amountMinor ?? null)) return 'amountMinor';
  if ((a.currency ?? null) !== (b.currency ?? null)) return 'currency';
  return null;
}

/** Same id, same content: a duplicate. */
export function sameContent(a: PaymentEventRow, b: PaymentEventRow): boolean {
  return differingField(a, b) === null;
}
