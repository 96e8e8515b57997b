import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getIntrospectionQuery } from 'graphql';
import { dayOf } from '@tally/domain';
import { startTestApp, type TestApp } from '../testing/test-app.js';
import { event, failed, ndjson, newSource, post } from '../testing/factories.js';
import { Role } from '../modules/auth/role.js';

// The compiled executor (graphql-jit, the default) must answer exactly what graphql-js answers:
// the same data, the same errors with the same codes, paths and locations, the same HTTP status.
// Two APIs on one database, one per executor, are asked the same operations; the compiled one
// three times (a document's first run is graphql-js's, the next ones compiled).

const DOCUMENTS = path.resolve(__dirname, '../../../../packages/schema/documents');
const SH = { timeZone: 'Asia/Shanghai', weekRule: 'FIRST_DAY' as const };

let interpreted: TestApp;
let compiled: TestApp;
let viewer: string;
let sourceId: string;
const today = dayOf(new Date(), SH);
const from = new Date(today.startsAt.getTime() - 3 * 86_400_000).toISOString();
const to = today.startsAt.toISOString();

interface Case {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
  token?: 'admin' | 'viewer' | 'none';
}

async function ask(t: TestApp, c: Case): Promise<{ status: number; body: unknown; text: string }> {
  const token = c.token === 'none' ? null : c.token === 'viewer' ? viewer : interpreted.adminSecret;
  const res = await fetch(`${t.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: c.query, variables: c.variables, operationName: c.operationName }),
  });
  // Seconds since the last event move between two asks; nothing else may differ. The text is
  // compared too: the same keys in the same order.
  const text = (await res.text()).replace(/"staleSeconds":\d+/g, '"staleSeconds":0');
  return { status: res.status, body: JSON.parse(text), text };
}

beforeAll(async () => {
  interpreted = await startTestApp({ env: { GRAPHQL_EXECUTOR: 'graphql-js' } });
  compiled = await startTestApp({ shareDatabaseWith: interpreted });
  viewer = await interpreted.tokenFor(Role.VIEWER);
  const s = await newSource(interpreted, 'jit-parity');
  sourceId = s.id;
  const events = [];
  for (let i = 0; i < 400; i++) {
    const at = new Date(Date.parse(from) + i * 600_000 + 17_000);
    const over = { channel: ['unionpay', 'alipay', 'wechat'][i % 3]!, direction: (i % 4 === 0 ? 'PAY_OUT' : 'PAY_IN') as 'PAY_IN' | 'PAY_OUT' };
    events.push(i % 9 === 0 ? failed(`j${i}`, at, ['BANK_TIMEOUT', 'WRONG_PASSWORD', 'NEW_CODE'][i % 3]!, over) : event(`j${i}`, at, over));
  }
  expect((await post(interpreted, s.key, ndjson(events))).body).toMatchObject({ accepted: 400, rejected: [] });
  const c = await interpreted.gql('mutation { classifyFailureCodes(input: [{ code: "BANK_TIMEOUT", attribution: SYSTEM }, { code: "WRONG_PASSWORD", attribution: USER }]) { code } }');
  expect(c.errors).toBeUndefined();
}, 60_000);

afterAll(async () => {
  await compiled?.close();
  await interpreted?.close();
});

function file(name: string): string {
  return fs.readFileSync(path.join(DOCUMENTS, name), 'utf8');
}

function cases(): Case[] {
  const window = { from, to };
  const win = `from: "${from}", to: "${to}"`;
  const payments = file('payments.graphql');
  const metrics = file('metrics.graphql');
  return [
    // Every published document (a file's operations sent together, chosen by operationName).
    { name: 'Me', query: file('auth.graphql'), operationName: 'Me' },
    { name: 'Week', query: file('calendar.graphql'), operationName: 'Week', variables: { date: '2023-01-13' } },
    { name: 'CurrentWeek', query: file('calendar.graphql'), operationName: 'CurrentWeek', token: 'viewer' },
    { name: 'Metrics', query: metrics, operationName: 'Metrics' },
    { name: 'MetricValue', query: metrics, operationName: 'MetricValue', variables: { key: 'payments.pay_in.effective_success_rate', ...window } },
    { name: 'MetricSeries', query: metrics, operationName: 'MetricSeries', variables: { key: 'payments.payout.attempts', ...window, granularity: 'HOUR' } },
    { name: 'PaymentSuccess', query: payments, operationName: 'PaymentSuccess', variables: { direction: 'PAY_IN', ...window } },
    { name: 'PaymentSuccess by channel', query: payments, operationName: 'PaymentSuccess', variables: { direction: 'PAY_OUT', ...window, channel: 'alipay' } },
    { name: 'PaymentSuccessSeries', query: payments, operationName: 'PaymentSuccessSeries', variables: { direction: 'PAY_IN', ...window, granularity: 'DAY', groupBy: ['CHANNEL'] } },
    { name: 'PaymentSuccessSeries MINUTE', query: payments, operationName: 'PaymentSuccessSeries', variables: { direction: 'PAY_IN', from, to: new Date(Date.parse(from) + 3_600_000).toISOString(), granularity: 'MINUTE' } },
    { name: 'PaymentFailureBreakdown', query: payments, operationName: 'PaymentFailureBreakdown', variables: { direction: 'PAY_IN', ...window, first: 2 } },
    { name: 'FailureCodes', query: payments, operationName: 'FailureCodes', token: 'viewer' },
    { name: 'Sources', query: payments, operationName: 'Sources' },
    { name: 'ClassifyFailureCodes (unchanged)', query: payments, operationName: 'ClassifyFailureCodes', variables: { input: [{ code: 'BANK_TIMEOUT', attribution: 'SYSTEM' }] } },
    {
      name: 'IngestPaymentOutcomes (a resend, a conflict and a bad line)',
      query: payments,
      operationName: 'IngestPaymentOutcomes',
      variables: {
        sourceId: '00000000-0000-0000-0000-000000000000',
        events: [{ id: 'x', occurredAt: from, direction: 'PAY_IN', channel: 'c', status: 'SUCCEEDED' }],
      },
    },
    { name: 'Settings', query: file('settings.graphql'), operationName: 'Settings', token: 'viewer' },
    { name: 'introspection', query: getIntrospectionQuery() },
    // Errors: typed errors from resolvers, authorisation, bad variables and operations.
    { name: 'week 54', query: '{ weekByNumber(year: 2023, number: 54) { number } }' },
    { name: 'bad literal', query: '{ week(date: "2023-02-30") { number } }' },
    { name: 'bad variable', query: 'query($d: Date!) { week(date: $d) { number } }', variables: { d: 'next tuesday' } },
    { name: 'missing variable', query: 'query($d: Date!) { week(date: $d) { number } }' },
    { name: 'null variable', query: 'query($d: Date!) { week(date: $d) { number } }', variables: { d: null } },
    { name: 'unknown enum variable', query: payments, operationName: 'PaymentSuccess', variables: { direction: 'SIDEWAYS', ...window } },
    { name: 'MINUTE past 48 h', query: payments, operationName: 'PaymentSuccessSeries', variables: { direction: 'PAY_IN', from: '2023-01-01T00:00:00Z', to: '2023-01-05T00:00:00Z', granularity: 'MINUTE' } },
    { name: 'window backwards', query: payments, operationName: 'PaymentSuccess', variables: { direction: 'PAY_IN', from: to, to: from } },
    { name: 'unknown metric', query: metrics, operationName: 'MetricValue', variables: { key: 'no.such.metric', ...window } },
    { name: 'VIEWER creates a source', query: payments, operationName: 'CreateSource', variables: { input: { name: 'nope', kind: 'PAYMENT_EVENTS' } }, token: 'viewer' },
    { name: 'VIEWER ingests', query: payments, operationName: 'IngestPaymentOutcomes', variables: { sourceId, events: [] }, token: 'viewer' },
    { name: 'no token', query: '{ settings { timeZone } }', token: 'none' },
    { name: 'no operation name among several', query: payments },
    { name: 'unknown operation name', query: payments, operationName: 'Nope' },
    { name: 'partial failure: one field fails, the other answers', query: `{ settings { timeZone } metric(key: "nope") { key } metrics { key } }` },
    // Shapes a compiler must get right: aliases named like Object.prototype's members,
    // fragments, directives, __typename.
    {
      name: 'aliases __proto__, constructor, toString, hasOwnProperty',
      query: `{ __proto__: settings { constructor: timeZone toString: locale } hasOwnProperty: metrics { __proto__: key valueOf: unit } }`,
    },
    // Shapes graphql-jit gets wrong (found by review): they must run on graphql-js.
    { name: '__proto__ alias of __typename (root)', query: '{ __proto__: __typename }' },
    { name: '__proto__ alias of __typename (nested)', query: '{ settings { __proto__: __typename timeZone } }' },
    { name: '__proto__ alias of a figure', query: `{ paymentSuccess(direction: PAY_IN, ${win}) { __proto__: attempts succeeded } }` },
    { name: '__proto__ alias of an object', query: `{ paymentSuccess(direction: PAY_IN, ${win}) { __proto__: previous { attempts } succeeded } }` },
    { name: 'one fragment under two @include', query: 'query($a: Boolean!, $b: Boolean!) { s: settings { ...F @include(if: $a) } t: settings { ...F @include(if: $b) } } fragment F on Settings { timeZone }', variables: { a: false, b: true } },
    { name: 'one fragment under @skip and bare', query: 'query($a: Boolean!) { s: settings { ...F @skip(if: $a) } t: settings { ...F } } fragment F on Settings { timeZone locale }', variables: { a: true } },
    { name: 'non-null variable with a default, omitted', query: 'query($d: Date! = "2023-01-13") { week(date: $d) { number startDate } }' },
    { name: 'nullable Date variable with a default', query: 'query($d: Date = "2023-01-13") { week(date: $d) { number startDate } }' },
    { name: 'DateTime variable with a default', query: `query($f: DateTime = "${from}") { paymentSuccess(direction: PAY_IN, from: $f, to: "${to}") { attempts from } }` },
    { name: 'enum variable with a default', query: `query($g: Granularity! = DAY) { paymentSuccessSeries(direction: PAY_IN, ${win}, granularity: $g) { attempts } }` },
    { name: 'variable named __proto__', query: `query($__proto__: String) { paymentFailureBreakdown(direction: PAY_IN, channel: $__proto__, ${win}) { code } }`, variables: JSON.parse('{"__proto__":"alipay"}') as Record<string, unknown> },
    { name: 'aliases whose joined path names collide', query: '{ y_x: apiTokens { id } x: settings { y: timeZone } }', token: 'viewer' },
    { name: 'operationName ""', query: '{ settings { timeZone } }', operationName: '' },
    { name: 'introspection without fragments or strings', query: '{ __schema { queryType { name } types { name kind fields { name type { name kind ofType { name } } } } } }', token: 'viewer' },
    { name: 'a deep __schema ofType chain', query: `{ __schema { types { ${'ofType { '.repeat(1500)}name${' }'.repeat(1500)} } } }`, token: 'viewer' },
    { name: 'a string literal shaped like graphql-jit\'s NaN marker', query: '{ metric(key: "__MAGIC_NAN__57f286b9_4c20_487f_b409_79804ddcb4f8") { key } }' },
    {
      name: 'fragments, @skip/@include, __typename',
      query: `query($with: Boolean!, $from: DateTime!, $to: DateTime!) {
        __typename
        s: paymentSuccess(direction: PAY_IN, from: $from, to: $to) { ...F previous @include(if: $with) { ...F } }
        t: paymentSuccess(direction: PAY_OUT, from: $from, to: $to) @skip(if: $with) { attempts }
      }
      fragment F on PaymentSuccess { __typename effectiveRate rawRate attempts eligible lowVolume asOf ... on PaymentSuccess { succeeded } }`,
      variables: { with: true, ...window },
    },
  ];
}

/** The first run is graphql-js's; a second as slow as compiling it would be means it was compiled. */
async function expectSecondRunAsFastAsFirst(c: Case): Promise<void> {
  const t0 = performance.now();
  const first = await ask(compiled, c);
  const firstMs = performance.now() - t0;
  const t1 = performance.now();
  expect(await ask(compiled, c)).toEqual(first);
  expect(performance.now() - t1).toBeLessThan(Math.max(200, 5 * firstMs));
}

describe('the compiled GraphQL executor', () => {
  for (const c of cases()) {
    it(`answers as graphql-js does: ${c.name}`, async () => {
      const expected = await ask(interpreted, c);
      for (let run = 1; run <= 3; run++) {
        expect({ run, ...(await ask(compiled, c)) }).toEqual({ run, ...expected });
      }
    });
  }

  it('leaves Object.prototype alone when a query aliases a field __proto__', async () => {
    await ask(compiled, { name: 'proto', query: '{ __proto__: settings { polluted: timeZone } }' });
    await ask(compiled, { name: 'proto', query: '{ __proto__: settings { polluted: timeZone } }' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('timeZone');
  });

  it('runs no code a client writes into a string literal, with or without a token', async () => {
    // graphql-jit turns "__MAGIC_DATE__<marker><text>" in a literal into `new Date(<text>)` in
    // its generated code; such a document must never be compiled.
    const marker = '__MAGIC_DATE__33a9e76d_02e0_4128_8e92_3530ad3da74d';
    const g = globalThis as { __tallyJitProbe?: number };
    for (const token of ['none', 'viewer'] as const) {
      const c: Case = { name: 'rce', token, query: `{ metric(key: "${marker}0),x:(globalThis.__tallyJitProbe=1") { key } }` };
      for (let i = 0; i < 3; i++) await ask(compiled, c);
    }
    expect(g.__tallyJitProbe).toBeUndefined();
  });

  it('runs no mutation after one that failed', async () => {
    const q = 'mutation($n: String!) { a: revokeApiToken(id: "00000000-0000-0000-0000-000000000000") { id } b: createSource(input: { name: $n, kind: PAYMENT_EVENTS }) { ingestKey } }';
    for (let i = 0; i < 3; i++) {
      const r = await ask(compiled, { name: 'm', query: q, variables: { n: `after-failure-${i}` } });
      expect(r.body).toMatchObject({ data: null, errors: [{ extensions: { code: 'NOT_FOUND' }, path: ['a'] }] });
    }
    const s = await interpreted.gql<{ sources: { name: string }[] }>('{ sources { name } }');
    expect(s.data!.sources.filter((x) => x.name.startsWith('after-failure-'))).toEqual([]);
  });

  it('keeps one operation of a document from changing what another answers', async () => {
    const query = 'query A($x: Boolean!) { settings { ...F @include(if: $x) } } query B { settings { ...F } } fragment F on Settings { timeZone }';
    for (let i = 0; i < 2; i++) await ask(compiled, { name: 'A', query, operationName: 'A', variables: { x: false } });
    const expected = await ask(interpreted, { name: 'B', query, operationName: 'B' });
    expect(expected.body).toMatchObject({ data: { settings: { timeZone: 'Asia/Shanghai' } } });
    for (let i = 0; i < 2; i++) expect(await ask(compiled, { name: 'B', query, operationName: 'B' })).toEqual(expected);
  });

  it('answers a deep introspection document at the speed of graphql-js', async () => {
    // graphql-jit's generated code grows with the square of the depth (1.3 s at 1,000 levels).
    const c: Case = { name: 'deep', token: 'viewer', query: `{ __schema { types { ${'ofType { '.repeat(1000)}name${' }'.repeat(1000)} } } }` };
    await expectSecondRunAsFastAsFirst(c);
  });

  it('answers a document of fragments spreading each other twice at the speed of graphql-js', async () => {
    // 23 levels of `...F{i+1} ...F{i+1}`: graphql-jit's compiler expands the 2^23 spreads.
    let q = '{ week(date: "2023-01-13") { ...F0 } }';
    for (let i = 0; i < 22; i++) q += ` fragment F${i} on Week { ...F${i + 1} ...F${i + 1} }`;
    q += ' fragment F22 on Week { number }';
    const c: Case = { name: 'fan', query: q, token: 'none' };
    // Compiled, the second run took ≈ 900 ms; on graphql-js both take the same few ms.
    await expectSecondRunAsFastAsFirst(c);
  });
});
