import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { compilableOperation } from './compiled-executor.js';

const DOCUMENTS = path.resolve(__dirname, '../../../../packages/schema/documents');

function operations(text: string): { doc: ReturnType<typeof parse>; op: OperationDefinitionNode }[] {
  const doc = parse(text);
  return doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION).map((op) => ({ doc, op }));
}

const compilable = (text: string) => operations(text).map(({ doc, op }) => compilableOperation(doc, op));

describe('compilableOperation', () => {
  it('compiles every query typed clients are given (packages/schema/documents) and the benchmark series', () => {
    const queries = fs
      .readdirSync(DOCUMENTS)
      .filter((f) => f.endsWith('.graphql'))
      .flatMap((f) => operations(fs.readFileSync(path.join(DOCUMENTS, f), 'utf8')))
      .filter(({ op }) => op.operation === 'query');
    expect(queries.length).toBeGreaterThan(8);
    for (const { doc, op } of queries) expect([op.name?.value, compilableOperation(doc, op)]).toEqual([op.name?.value, true]);
    expect(
      compilable(`query Series($from: DateTime!, $to: DateTime!) {
        paymentSuccessSeries(direction: PAY_IN, from: $from, to: $to, granularity: DAY, groupBy: [CHANNEL]) {
          from to channel attempts succeeded userFailures systemFailures unclassifiedFailures eligible rawRate effectiveRate
        }
      }`),
    ).toEqual([true]);
    expect(compilable('{ a: settings { timeZone } b2: metrics { key } weekByNumber(year: 2023, number: 3) { number } }')).toEqual([true]);
  });

  it('leaves to graphql-js mutations, subscriptions and every shape graphql-jit gets wrong', () => {
    for (const text of [
      'mutation { updateSettings(input: { lowVolumeThreshold: 100 }) { lowVolumeThreshold } }',
      'subscription { metricUpdated(keys: [], period: DAY) { key } }',
      '{ metric(key: "payments.pay_in.attempts") { key } }', // a string literal
      '{ metric(key: """block""") { key } }',
      'query($d: Date = "2023-01-13") { week(date: $d) { number } }', // a default
      'query($g: Granularity! = DAY) { settings { timeZone } }',
      'query($__proto__: String) { settings { timeZone } }',
      '{ __proto__: settings { timeZone } }',
      '{ y_x: settings { timeZone } }',
      '{ settings { ...F } } fragment F on Settings { timeZone }',
      '{ settings { ... on Settings { timeZone } } }',
      'query($a: Boolean!) { settings { timeZone @include(if: $a) } }',
      '{ settings @skip(if: false) { timeZone } }',
      '{ __schema { types { name } } }',
      'query($n: String!) { __type(name: $n) { name } }',
      `{ __schema { types { ${'ofType { '.repeat(40)}name${' }'.repeat(40)} } } }`,
      `{ metric(key: $k) { ${'value { '.repeat(12)}x${' }'.repeat(12)} } }`,
      `{ settings { timeZone } ${Array.from({ length: 700 }, (_, i) => `a${i}: settings { timeZone }`).join(' ')} }`,
    ]) {
      expect([text, compilable(text)]).toEqual([text, [false]]);
    }
    expect(compilableOperation(parse('{ settings { timeZone } }'), undefined)).toBe(false);
  });
});
