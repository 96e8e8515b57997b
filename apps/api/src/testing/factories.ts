import { gzipSync } from 'node:zlib';
import type { TestApp } from './test-app.js';

/** A payment source with its ingest key, created through GraphQL like an admin would. */
export async function newSource(t: TestApp, name = `payments-${Math.random().toString(36).slice(2, 8)}`) {
  const r = await t.gql<{ createSource: { source: { id: string }; ingestKey: string } }>(
    'mutation($i: CreateSourceInput!) { createSource(input: $i) { source { id } ingestKey } }',
    { i: { name, kind: 'PAYMENT_EVENTS' } },
  );
  if (!r.data) throw new Error(JSON.stringify(r.errors));
  return { id: r.data.createSource.source.id, key: r.data.createSource.ingestKey };
}

export interface EventInput {
  id: string;
  occurredAt: string;
  direction?: 'PAY_IN' | 'PAY_OUT';
  channel?: string;
  status?: 'SUCCEEDED' | 'FAILED';
  failureCode?: string;
  amountMinor?: number;
  currency?: string;
  [k: string]: unknown;
}

/** A valid event with sensible defaults. */
export function event(id: string, occurredAt: string | Date, over: Partial<EventInput> = {}): EventInput {
  return {
    id,
    occurredAt: occurredAt instanceof Date ? occurredAt.toISOString() : occurredAt,
    direction: 'PAY_IN',
    channel: 'unionpay',
    status: 'SUCCEEDED',
    amountMinor: 1000,
    currency: 'CNY',
    ...over,
  };
}

export function failed(id: string, occurredAt: string | Date, failureCode: string, over: Partial<EventInput> = {}): EventInput {
  return event(id, occurredAt, { status: 'FAILED', failureCode, ...over });
}

export function ndjson(events: readonly unknown[]): string {
  return events.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n') + '\n';
}

export interface IngestAnswer {
  status: number;
  headers: Headers;
  body: { accepted?: number; duplicates?: number; rejected?: { line: number; id?: string; field?: string; code: string; reason: string }[]; rejectedCount?: number; error?: string };
}

/** POSTs to the ingest endpoint as a payment system would. */
export async function post(
  t: TestApp,
  key: string | null,
  body: string | Buffer,
  opts: { type?: string; gzip?: boolean; headers?: Record<string, string> } = {},
): Promise<IngestAnswer> {
  const payload = opts.gzip ? gzipSync(body) : body;
  const res = await fetch(`${t.baseUrl}/v1/ingest/payment-outcomes`, {
    method: 'POST',
    headers: {
      'content-type': opts.type ?? 'application/x-ndjson',
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(opts.gzip ? { 'content-encoding': 'gzip' } : {}),
      ...opts.headers,
    },
    body: payload,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as IngestAnswer['body'] };
}

/** Minutes ago, as an ISO instant on a whole minute plus `seconds`. */
export function minutesAgo(n: number, seconds = 0): string {
  const t = Math.floor(Date.now() / 60_000) * 60_000 - n * 60_000 + seconds * 1000;
  return new Date(t).toISOString();
}

/**
 * The figures a user would compute by hand from the events of `[from, to)` passing `filter`,
 * given which codes are USER and which SYSTEM (any other failure is unclassified). Written
 * independently of the product's math on purpose: tests compare the API against it.
 */
export function recompute(
  events: readonly EventInput[],
  from: Date,
  to: Date,
  codes: { user: ReadonlySet<string>; system: ReadonlySet<string> },
  filter: (e: EventInput) => boolean = () => true,
) {
  const inWindow = events.filter((e) => filter(e) && Date.parse(e.occurredAt) >= from.getTime() && Date.parse(e.occurredAt) < to.getTime());
  const succeeded = inWindow.filter((e) => e.status === 'SUCCEEDED').length;
  const user = inWindow.filter((e) => e.status === 'FAILED' && codes.user.has(e.failureCode!)).length;
  const system = inWindow.filter((e) => e.status === 'FAILED' && codes.system.has(e.failureCode!)).length;
  const unclassified = inWindow.length - succeeded - user - system;
  const eligible = succeeded + system + unclassified;
  return {
    attempts: inWindow.length,
    succeeded,
    userFailures: user,
    systemFailures: system,
    unclassifiedFailures: unclassified,
    eligible,
    effectiveRate: eligible ? succeeded / eligible : null,
    rawRate: inWindow.length ? succeeded / inWindow.length : null,
  };
}
