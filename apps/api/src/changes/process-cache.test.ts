import { afterEach, expect, it, vi } from 'vitest';
import { ProcessCache } from './process-cache.js';

afterEach(() => vi.useRealTimers());

it('loads once, then answers from memory until cleared', async () => {
  const cache = new ProcessCache<string, number>({ maxAgeMs: 60_000, maxEntries: 10 });
  let loads = 0;
  const load = async () => ++loads;
  expect(await cache.get('a', load)).toBe(1);
  expect(await cache.get('a', load)).toBe(1);
  cache.clear();
  expect(await cache.get('a', load)).toBe(2);
});

it('does not keep a value loaded across a clear (it may predate the change)', async () => {
  const cache = new ProcessCache<string, string>({ maxAgeMs: 60_000, maxEntries: 10 });
  let release!: () => void;
  const slow = cache.get('token', () => new Promise<string>((r) => (release = () => r('before revocation'))));
  cache.clear(); // the revocation commits while the lookup is in flight
  release();
  expect(await slow).toBe('before revocation'); // that request had started before
  expect(await cache.get('token', async () => 'after revocation')).toBe('after revocation');
});

it('keeps only what `keep` accepts (e.g. no unknown credentials)', async () => {
  const cache = new ProcessCache<string, string | null>({ maxAgeMs: 60_000, maxEntries: 10 });
  let loads = 0;
  const unknown = async () => (loads++, null);
  await cache.get('guess', unknown, (v) => v !== null);
  await cache.get('guess', unknown, (v) => v !== null);
  expect(loads).toBe(2);
});

it('forgets values older than maxAgeMs (a notice lost anyway) and the oldest beyond maxEntries', async () => {
  vi.useFakeTimers({ now: new Date('2026-11-25T00:00:00Z') });
  const cache = new ProcessCache<string, number>({ maxAgeMs: 30_000, maxEntries: 2 });
  let loads = 0;
  const load = async () => ++loads;
  await cache.get('a', load);
  vi.advanceTimersByTime(29_999);
  expect(await cache.get('a', load)).toBe(1);
  vi.advanceTimersByTime(1);
  expect(await cache.get('a', load)).toBe(2);
  await cache.get('b', load); // 3
  await cache.get('c', load); // 4: 'a' goes
  expect(await cache.get('b', load)).toBe(3);
  expect(await cache.get('a', load)).toBe(5);
});
