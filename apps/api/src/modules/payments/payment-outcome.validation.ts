import { z } from 'zod';
import type { Direction, PaymentEventRow } from '@tally/db';

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
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

/** Parses an RFC 3339 date-time that carries an explicit offset and names a real instant. */
export function parseOccurredAt(value: string): Date | string {
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

const text = (max: number) =>
  z.string({ error: (i) => (i.input == null ? 'is required' : 'must be a string') }).min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

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
      .int('must be a whole number of minor units')
      .nonnegative('must not be negative')
      .max(Number.MAX_SAFE_INTEGER, 'is too large')
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

export type ValidationOutcome = { ok: true; event: PaymentEventRow } | { ok: false; rejection: IngestRejection };

/** Validates one decoded event; `now` and the horizon decide `future` and `too_late`. */
export function validatePaymentOutcome(
  value: unknown,
  line: number,
  opts: { now: number; horizonMs: number | null },
): ValidationOutcome {
  const id = typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' ? (value as { id: string }).id.slice(0, 128) : undefined;
  const reject = (field: string | undefined, code: RejectionCode, reason: string): ValidationOutcome => ({
    ok: false,
    rejection: { line, ...(id !== undefined ? { id } : {}), ...(field ? { field } : {}), code, reason },
  });
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
  if (t > opts.now + 5 * 60_000) return reject('occurredAt', 'future', 'occurredAt is more than 5 minutes in the future');
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

/** Same id, same content: a duplicate. Instants compare as instants, whatever offset was written. */
export function sameContent(a: PaymentEventRow, b: PaymentEventRow): boolean {
  return (
    a.occurredAt.getTime() === b.occurredAt.getTime() &&
    a.direction === b.direction &&
    a.channel === b.channel &&
    a.failureCode === b.failureCode &&
    (a.amountMinor ?? null) === (b.amountMinor ?? null) &&
    (a.currency ?? null) === (b.currency ?? null)
  );
}
