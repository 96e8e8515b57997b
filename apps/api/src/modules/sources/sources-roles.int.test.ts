import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { event, minutesAgo, ndjson, newSource, post } from '../../testing/factories.js';
import { Role } from '../auth/role.js';

let t: TestApp;
let source: { id: string; key: string };
let viewer: string;
let editor: string;
beforeAll(async () => {
  t = await startTestApp();
  source = await newSource(t, 'roles-check');
  viewer = await t.tokenFor(Role.VIEWER);
  editor = await t.tokenFor(Role.EDITOR);
});
afterAll(() => t.close());

const CREATE = 'mutation($i: CreateSourceInput!) { createSource(input: $i) { source { id } ingestKey } }';
const ROTATE = 'mutation($id: ID!) { rotateSourceKey(id: $id) { ingestKey } }';
const LIST = '{ sources { id name } }';
const CLASSIFY = 'mutation($i: [FailureCodeClassificationInput!]!) { classifyFailureCodes(input: $i) { code attribution } }';
const INGEST = 'mutation($s: ID!, $e: [PaymentOutcomeInput!]!) { ingestPaymentOutcomes(sourceId: $s, events: $e) { accepted duplicates } }';

const codeOf = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => r.errors?.[0]?.extensions?.code;

async function sourceNames(): Promise<string[]> {
  const r = await t.gql<{ sources: { name: string }[] }>(LIST);
  return r.data!.sources.map((s) => s.name);
}

describe('source management is ADMIN only', () => {
  for (const role of ['VIEWER', 'EDITOR'] as const) {
    it(`refuses a ${role} createSource and rotateSourceKey with FORBIDDEN, changing nothing, and lets it read sources`, async () => {
      const token = role === 'VIEWER' ? viewer : editor;

      const created = await t.gql(CREATE, { i: { name: `by-${role.toLowerCase()}`, kind: 'PAYMENT_EVENTS' } }, token);
      expect(codeOf(created)).toBe('FORBIDDEN');
      expect(created.data).toBeNull();
      expect(await sourceNames()).not.toContain(`by-${role.toLowerCase()}`);

      const rotated = await t.gql(ROTATE, { id: source.id }, token);
      expect(codeOf(rotated)).toBe('FORBIDDEN');
      expect(rotated.data).toBeNull();
      // The key was not rotated: it still ingests.
      expect((await post(t, source.key, ndjson([event(`rot-${role}`, minutesAgo(3))]))).status).toBe(200);

      // Reading is for everyone: freshness on dashboards, the id an EDITOR ingests to.
      const listed = await t.gql<{ sources: { id: string; name: string }[] }>(LIST, undefined, token);
      expect(listed.errors).toBeUndefined();
      expect(listed.data!.sources).toContainEqual({ id: source.id, name: 'roles-check' });
      const anonymous = await t.gql(LIST, undefined, null);
      expect(codeOf(anonymous)).toBe('UNAUTHENTICATED');
    });
  }
});

describe('payment writes need an EDITOR', () => {
  it('refuses a VIEWER classifyFailureCodes with FORBIDDEN, leaving the attribution as it was', async () => {
    await post(t, source.key, ndjson([event('cls-1', minutesAgo(3), { status: 'FAILED', failureCode: 'ROLE_CHECK_CODE' })]));
    const r = await t.gql(CLASSIFY, { i: [{ code: 'ROLE_CHECK_CODE', attribution: 'USER' }] }, viewer);
    expect(codeOf(r)).toBe('FORBIDDEN');
    expect(r.data).toBeNull();
    const codes = await t.gql<{ failureCodes: { code: string; attribution: string }[] }>('{ failureCodes { code attribution } }');
    expect(codes.data!.failureCodes.find((c) => c.code === 'ROLE_CHECK_CODE')?.attribution).toBe('UNCLASSIFIED');
  });

  it('refuses a VIEWER ingestPaymentOutcomes with FORBIDDEN, storing nothing', async () => {
    const events = [event('viewer-ingest-1', minutesAgo(3))];
    const r = await t.gql(INGEST, { s: source.id, e: events }, viewer);
    expect(codeOf(r)).toBe('FORBIDDEN');
    expect(r.data).toBeNull();
    // Nothing landed: the same event is new for an EDITOR.
    const again = await t.gql<{ ingestPaymentOutcomes: { accepted: number; duplicates: number } }>(INGEST, { s: source.id, e: events }, editor);
    expect(again.data?.ingestPaymentOutcomes).toEqual({ accepted: 1, duplicates: 0 });
  });
});

describe('an ingest key is not a GraphQL token', () => {
  it('answers UNAUTHENTICATED to an ingest key as Authorization: Bearer on /graphql', async () => {
    expect(source.key).toMatch(/^tik_/);
    for (const query of ['{ me { name } }', LIST, '{ metrics { key } }']) {
      const r = await t.gql(query, undefined, source.key);
      expect(r.status).toBeLessThan(500);
      expect(codeOf(r)).toBe('UNAUTHENTICATED');
      expect(r.errors?.[0]?.message).toMatch(/an ingest key only pushes events/);
      expect(r.data ?? null).toBeNull();
    }
    const ingest = await t.gql(INGEST, { s: source.id, e: [event('key-as-token', minutesAgo(3))] }, source.key);
    expect(codeOf(ingest)).toBe('UNAUTHENTICATED');
    // The key itself still works where it belongs.
    expect((await post(t, source.key, ndjson([event('key-as-token', minutesAgo(3))]))).body).toMatchObject({ accepted: 1 });
  });
});
