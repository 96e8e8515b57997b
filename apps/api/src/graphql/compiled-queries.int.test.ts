import { buildClientSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema, type IntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/test-app.js';
import { event, failed, minutesAgo, ndjson, newSource, post } from '../testing/factories.js';
import { Role } from '../modules/auth/role.js';
import { compiledQueryStats } from './compiled-queries.js';

// Queries seen more than twice are executed by graphql-jit (compiled-queries.ts). Each query
// below runs five times: twice through graphql-js, then compiled. Every answer must be the same.

let t: TestApp;
let viewer: string;

beforeAll(async () => {
  t = await startTestApp();
  viewer = await t.tokenFor(Role.VIEWER);
  const source = await newSource(t);
  const answer = await post(
    t,
    source.key,
    ndjson([
      event('c1', minutesAgo(30)),
      event('c2', minutesAgo(90), { channel: 'wechat' }),
      failed('c3', minutesAgo(100), 'BANK_TIMEOUT'),
      failed('c4', minutesAgo(26 * 60), 'INSUFFICIENT_BALANCE', { channel: 'wechat' }),
      event('c5', minutesAgo(50 * 60), { direction: 'PAY_OUT' }),
    ]),
  );
  expect(answer.body.accepted).toBe(5);
});

afterAll(async () => {
  await t?.close();
});

async function fiveTimes(query: string, variables?: Record<string, unknown>, token: string | null = viewer) {
  const answers = [];
  for (let i = 0; i < 5; i++) {
    const r = await t.gql(query, variables, token);
    answers.push({ status: r.status, data: r.data, errors: r.errors });
  }
  return answers;
}

describe('compiled queries', () => {
  it('answer exactly as graphql-js: figures, series, breakdowns, metrics, lists, nulls and aliases', async () => {
    const served = compiledQueryStats.served;
    const query = `query Report($from: DateTime!, $to: DateTime!, $ch: String) {
      __typename
      me { role }
      settings { timeZone weekRule }
      week(date: "2023-01-09") { number label }
      pin: paymentSuccess(direction: PAY_IN, from: $from, to: $to) {
        effectiveRate rawRate attempts succeeded userFailures systemFailures unclassifiedFailures eligible lowVolume asOf from to
        previous { effectiveRate attempts asOf } effectiveRateDelta
      }
      out: paymentSuccess(direction: PAY_OUT, from: $from, to: $to, channel: $ch) { effectiveRate attempts asOf }
      paymentSuccessSeries(direction: PAY_IN, from: $from, to: $to, granularity: HOUR, groupBy: [CHANNEL]) {
        from to channel attempts succeeded userFailures systemFailures unclassifiedFailures eligible rawRate effectiveRate
      }
      paymentFailureBreakdown(direction: PAY_IN, from: $from, to: $to) { code attribution description count share }
      failureCodes { code attribution count firstSeenAt }
      metrics { key unit value(from: $from, to: $to) { value numerator denominator asOf } }
      sources { name kind lastEventAt last24h { accepted duplicates rejected } }
    }`;
    const answers = await fiveTimes(query, { from: minutesAgo(3 * 24 * 60), to: minutesAgo(-1), ch: 'nobody' });
    expect(answers[0]!.errors).toBeUndefined();
    const data = answers[0]!.data as Record<string, unknown> & { pin: { attempts: number }; out: { effectiveRate: number | null } };
    expect(data.pin.attempts).toBe(4);
    expect(data.out.effectiveRate).toBeNull();
    for (const a of answers.slice(1)) expect(a).toEqual(answers[0]);
    expect(compiledQueryStats.served - served).toBe(3);
  });

  it('answer introspection as graphql-js: the schema clients generate types from', async () => {
    const served = compiledQueryStats.served;
    const answers = await fiveTimes(getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true, specifiedByUrl: true }));
    for (const a of answers.slice(1)) expect(a).toEqual(answers[0]);
    expect(compiledQueryStats.served - served).toBe(3);
    const printed = printSchema(lexicographicSortSchema(buildClientSchema(answers[4]!.data as unknown as IntrospectionQuery)));
    expect(printed).toBe(printSchema(lexicographicSortSchema(t.app.schema)));
  });

  it('hands every erroneous query back to graphql-js: same codes, messages and status as the first runs', async () => {
    const handedBack = compiledQueryStats.handedBack;
    const cases: [string, Record<string, unknown> | undefined, string | null][] = [
      // A resolver's typed error.
      [`query($f: DateTime!, $t: DateTime!) { paymentSuccess(direction: PAY_IN, from: $f, to: $t) { attempts } }`, { f: minutesAgo(0), t: minutesAgo(60) }, viewer],
      // Variable coercion (no offset).
      [`query($f: DateTime!, $t: DateTime!) { paymentSuccess(direction: PAY_IN, from: $f, to: $t) { attempts } }`, { f: '2023-01-09T00:00:00', t: minutesAgo(0) }, viewer],
      // No token: every field refuses.
      [`{ settings { timeZone } }`, undefined, null],
      // A token that does not exist.
      [`{ settings { timeZone } me { role } }`, undefined, viewer.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a'))],
      // Too weak a role for one field of several: partial data with an error.
      [`{ settings { timeZone } apiTokens { name } me { role } }`, undefined, viewer],
      [`{ metric(key: "nope") { key } }`, undefined, viewer],
    ];
    for (const [query, variables, token] of cases) {
      const answers = await fiveTimes(query, variables, token);
      expect(answers[0]!.errors?.length).toBeGreaterThan(0);
      for (const a of answers.slice(1)) expect(a).toEqual(answers[0]);
    }
    expect(compiledQueryStats.handedBack - handedBack).toBeGreaterThanOrEqual(3);
  });

  it('leaves mutations to graphql-js', async () => {
    const served = compiledQueryStats.served;
    for (let i = 0; i < 4; i++) {
      const r = await t.gql(`mutation($i: [FailureCodeClassificationInput!]!) { classifyFailureCodes(input: $i) { code attribution } }`, {
        i: [{ code: 'BANK_TIMEOUT', attribution: 'SYSTEM', description: `run ${i}` }],
      });
      expect(r.errors).toBeUndefined();
    }
    expect(compiledQueryStats.served).toBe(served);
  });
});
