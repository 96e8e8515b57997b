import { describe, expect, it } from 'vitest';
import { TurnTaking } from './turn-taking.js';

const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('TurnTaking', () => {
  it('runs one task at a time, in arrival order, and frees the slot when a task throws', async () => {
    const slot = new TurnTaking(1_000);
    const log: string[] = [];
    let running = 0;
    const task = (name: string, fail = false) =>
      slot.run(async () => {
        running++;
        expect(running).toBe(1);
        log.push(`${name} start`);
        await new Promise((r) => setTimeout(r, 5));
        log.push(`${name} end`);
        running--;
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([task('a'), task('b', true), task('c')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(log).toEqual(['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
    expect(slot.waiting).toBe(0);
  });

  it('lets queued tasks through when the holder has had its turn, then gives the holder the slot back', async () => {
    const slot = new TurnTaking(20);
    const log: string[] = [];
    const long = slot.run(async (share) => {
      for (let piece = 0; piece < 6; piece++) {
        busy(10);
        log.push(`long ${piece}`);
        await share();
      }
    });
    const short = slot.run(async () => void log.push('short'));
    await Promise.all([long, short]);
    // The short task ran after the long one's first turn (two 10 ms pieces), not after all six.
    expect(log.indexOf('short')).toBeGreaterThan(0);
    expect(log.indexOf('short')).toBeLessThan(4);
    expect(log.filter((l) => l.startsWith('long'))).toHaveLength(6);
  });

  it('does not give up the slot while nobody waits, nor before the turn is over', async () => {
    const slot = new TurnTaking(10_000);
    const log: string[] = [];
    const long = slot.run(async (share) => {
      for (let piece = 0; piece < 3; piece++) {
        log.push(`long ${piece}`);
        await share();
        await new Promise((r) => setTimeout(r, 2));
      }
    });
    const short = slot.run(async () => void log.push('short'));
    await Promise.all([long, short]);
    expect(log).toEqual(['long 0', 'long 1', 'long 2', 'short']);
  });
});
