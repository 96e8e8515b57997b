import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../testing/test-app.js';

describe('source registry', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('creates one source of a name when several requests race for it; the others get CONFLICT', async () => {
    const create = () =>
      t.gql<{ createSource: { source: { id: string } } }>('mutation { createSource(input: { name: "race", kind: PAYMENT_EVENTS }) { source { id } } }');
    const answers = await Promise.all(Array.from({ length: 8 }, create));
    expect(answers.filter((a) => a.data?.createSource).length).toBe(1);
    const codes = answers.flatMap((a) => a.errors ?? []).map((e) => e.extensions?.code);
    expect(codes).toEqual(Array(7).fill('CONFLICT'));
    const sources = await t.gql<{ sources: { name: string }[] }>('{ sources { name } }');
    expect(sources.data?.sources.filter((s) => s.name === 'race')).toHaveLength(1);
  });
});
