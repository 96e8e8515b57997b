import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../testing/test-app.js';
import { event, minutesAgo, ndjson, newSource, post } from '../../testing/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

it('a body that takes seconds to validate does not hold up another source\'s small batch (the validation stage takes turns)', async () => {
  const bulky = await newSource(t, 'bulky');
  const small = await newSource(t, 'small');
  // 1,000,000 lines that are JSON but not events: each is validated and rejected on its own
  // (seconds of CPU), and every one of them is still counted.
  const body = Buffer.from('{}\n'.repeat(1_000_000));
  let bulkyDone = 0;
  const started = Date.now();
  const big = post(t, bulky.key, body).then((r) => ((bulkyDone = Date.now()), r));
  // Once the big body is being validated (its request read and decoding).
  await new Promise((r) => setTimeout(r, 300));
  const sentAt = Date.now();
  const r = await post(t, small.key, ndjson([event('s1', minutesAgo(5)), event('s2', minutesAgo(4))]));
  const smallMs = Date.now() - sentAt;
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: [] });
  // Answered while the big one still validates, not after it.
  expect(bulkyDone).toBe(0);
  expect(smallMs).toBeLessThan(2_000);
  const b = await big;
  expect(b.status).toBe(200);
  expect(b.body).toMatchObject({ accepted: 0, duplicates: 0, rejectedCount: 1_000_000 });
  expect(b.body.rejected?.[0]).toMatchObject({ line: 1, field: 'id', code: 'invalid' });
  expect(Date.now() - started).toBeGreaterThan(smallMs);
}, 120_000);
