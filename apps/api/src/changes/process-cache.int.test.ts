import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/test-app.js';
import { event, failed, minutesAgo, ndjson, newSource, post } from '../testing/factories.js';
import { Role } from '../modules/auth/role.js';

// Credentials, settings and failure-code attributions are cached in each API process. What a
// user must never see: a revoked token or a rotated key still working, or figures and
// calendars of the old settings or attributions — in the process that made the change, nor
// (on PostgreSQL, where replicas share a database) in another one.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

/** Retries `check` until it passes or `ms` elapse (a NOTIFY takes a moment to travel). */
async function eventually(check: () => Promise<void>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const FIGURES = (from: string, to: string) =>
  `{ paymentSuccess(direction: PAY_IN, from: "${from}", to: "${to}") { attempts userFailures systemFailures unclassifiedFailures eligible effectiveRate } }`;

describe('in the process that made the change', () => {
  it('a revoked token fails on its very next request, though it was just used', async () => {
    const { token, secret: viewer } = await t.app.services.auth.createToken({ name: 'soon revoked', role: Role.VIEWER }, null);
    expect((await t.gql('{ settings { timeZone } }', undefined, viewer)).errors).toBeUndefined();
    expect((await t.gql('mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }', { id: token.id })).errors).toBeUndefined();
    const after = await t.gql('{ settings { timeZone } }', undefined, viewer);
    expect(after.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('a classification changes the next figures at once, on a window already read', async () => {
    const s = await newSource(t);
    const code = `CACHE_${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
    const from = minutesAgo(30);
    const to = minutesAgo(10);
    await post(t, s.key, ndjson([event('c-1', minutesAgo(20)), failed('c-2', minutesAgo(20, 5), code)]));
    const before = await t.gql<{ paymentSuccess: { unclassifiedFailures: number; userFailures: number; effectiveRate: number } }>(FIGURES(from, to));
    expect(before.data!.paymentSuccess.unclassifiedFailures).toBeGreaterThanOrEqual(1);
    await t.gql('mutation($i: [FailureCodeClassificationInput!]!) { classifyFailureCodes(input: $i) { code } }', { i: [{ code, attribution: 'USER' }] });
    const after = await t.gql<{ paymentSuccess: { unclassifiedFailures: number; userFailures: number } }>(FIGURES(from, to));
    expect(after.data!.paymentSuccess.userFailures).toBe(before.data!.paymentSuccess.userFailures + 1);
    expect(after.data!.paymentSuccess.unclassifiedFailures).toBe(before.data!.paymentSuccess.unclassifiedFailures - 1);
  });
});

describe('in another API process of the same database', () => {
  let replica: TestApp | undefined;
  const embedded = () => t.db.kind === 'embedded' || t.testDb.target.kind === 'embedded';

  beforeAll(async () => {
    // The embedded database serves one process: no replica can exist (see metrics.int.test).
    if (!embedded()) replica = await startTestApp({ shareDatabaseWith: t });
  });
  afterAll(async () => {
    await replica?.close();
  });

  it('a token revoked through one process stops working in the other, which had it cached', async () => {
    if (!replica) return expect(embedded()).toBe(true);
    const { token, secret } = await t.app.services.auth.createToken({ name: 'replica viewer', role: Role.VIEWER }, null);
    expect((await replica.gql('{ settings { timeZone } }', undefined, secret)).errors).toBeUndefined(); // cached there now
    await t.gql('mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }', { id: token.id });
    await eventually(async () => {
      const r = await replica!.gql('{ settings { timeZone } }', undefined, secret);
      expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });
  });

  it('an ingest key rotated through one process is refused by the other', async () => {
    if (!replica) return expect(embedded()).toBe(true);
    const s = await newSource(t);
    expect((await post(replica, s.key, ndjson([event('r-1', minutesAgo(5))]))).body).toMatchObject({ accepted: 1 });
    await t.gql('mutation($id: ID!) { rotateSourceKey(id: $id) { ingestKey } }', { id: s.id });
    await eventually(async () => {
      const r = await post(replica!, s.key, ndjson([event('r-2', minutesAgo(5))]));
      expect(r.status).toBe(403);
    });
  });

  it('settings and classifications changed through one process reach the other', async () => {
    if (!replica) return expect(embedded()).toBe(true);
    const s = await newSource(t);
    const code = `REPL_${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
    const from = minutesAgo(30);
    const to = minutesAgo(10);
    await post(t, s.key, ndjson([failed('rc-1', minutesAgo(20), code)]));
    const before = await replica.gql<{ paymentSuccess: { systemFailures: number } }>(FIGURES(from, to));
    const BREAKDOWN = `{ paymentFailureBreakdown(direction: PAY_IN, from: "${from}", to: "${to}") { code attribution } }`;
    const attributionThere = async () =>
      (await replica!.gql<{ paymentFailureBreakdown: { code: string; attribution: string }[] }>(BREAKDOWN)).data!.paymentFailureBreakdown.find((b) => b.code === code)?.attribution;
    expect(await attributionThere()).toBe('UNCLASSIFIED');
    const lowVolume = await replica.gql<{ settings: { lowVolumeThreshold: number } }>('{ settings { lowVolumeThreshold } }');
    await t.gql('mutation($i: [FailureCodeClassificationInput!]!) { classifyFailureCodes(input: $i) { code } }', { i: [{ code, attribution: 'SYSTEM' }] });
    const threshold = lowVolume.data!.settings.lowVolumeThreshold + 7;
    await t.gql(`mutation { updateSettings(input: { lowVolumeThreshold: ${threshold} }) { lowVolumeThreshold } }`);
    await eventually(async () => {
      const r = await replica!.gql<{ paymentSuccess: { systemFailures: number } }>(FIGURES(from, to));
      expect(r.data!.paymentSuccess.systemFailures).toBe(before.data!.paymentSuccess.systemFailures + 1);
      expect(await attributionThere()).toBe('SYSTEM');
      const st = await replica!.gql<{ settings: { lowVolumeThreshold: number } }>('{ settings { lowVolumeThreshold } }');
      expect(st.data!.settings.lowVolumeThreshold).toBe(threshold);
    });
  });
});
