import { describe, expect, it } from 'vitest';
import { TurnTaking } from './turn-taking.js';

const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

/** A large task of `pieces` pieces of `ms` work each, logging each piece. */
const large = (slot: TurnTaking, log: string[], name: string, pieces: number, ms: number) =>
  slot.run(false, async (share) => {
    for (let piece = 0; piece < pieces; piece++) {
      busy(ms);
      log.push(`${name} ${piece}`);
      await share();
    }
  });
const small = (slot: TurnTaking, log: string[], name: string) => slot.run(true, async () => void log.push(name));

describe('TurnTaking', () => {
  it('runs one task at a time, in arrival order, and frees the slot when a task throws', async () => {
    const slot = new TurnTaking(1_000);
    const log: string[] = [];
    let running = 0;
    const task = (name: string, isSmall: boolean, fail = false) =>
      slot.run(isSmall, async () => {
        running++;
        expect(running).toBe(1);
        log.push(`${name} start`);
        await new Promise((r) => setTimeout(r, 5));
        log.push(`${name} end`);
        running--;
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([task('a', false), task('b', true, true), task('c', false), task('d', true)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(log).toEqual(['a start', 'a end', 'b start', 'b end', 'c start', 'c end', 'd start', 'd end']);
    expect(slot.waiting).toBe(0);
  });

  it('lets waiting small tasks past a large one that has had its turn, then lets it go on before later large ones', async () => {
    const slot = new TurnTaking(20);
    const log: string[] = [];
    const first = large(slot, log, 'L1', 6, 10);
    const second = large(slot, log, 'L2', 2, 10);
    const s1 = small(slot, log, 's1');
    const s2 = small(slot, log, 's2');
    await Promise.all([first, second, s1, s2]);
    // Both small tasks ran after L1's first turn (two 10 ms pieces), not after all of L1 and L2;
    // L2 started only when L1 was done: large tasks are never partly done at once.
    expect(log).toEqual(['L1 0', 'L1 1', 's1', 's2', 'L1 2', 'L1 3', 'L1 4', 'L1 5', 'L2 0', 'L2 1']);
  });

  it('does not let anyone past while no small task waits, nor before the turn is over, nor a small holder', async () => {
    const slot = new TurnTaking(10_000);
    const log: string[] = [];
    const l = large(slot, log, 'L', 3, 1);
    const s = small(slot, log, 's');
    await Promise.all([l, s]);
    expect(log).toEqual(['L 0', 'L 1', 'L 2', 's']);

    const quick = new TurnTaking(5);
    const log2: string[] = [];
    const holder = quick.run(true, async (share) => {
      for (let piece = 0; piece < 3; piece++) {
        busy(10);
        log2.push(`S ${piece}`);
        await share();
      }
    });
    const other = small(quick, log2, 's');
    await Promise.all([holder, other]);
    expect(log2).toEqual(['S 0', 'S 1', 'S 2', 's']);
  });

  it('counts the holder\'s own work, not the time others had the event loop during its pauses', async () => {
    const slot = new TurnTaking(30);
    const log: string[] = [];
    // Another part of the process keeps the event loop busy 20 ms at a time.
    const hog = setInterval(() => busy(20), 0);
    try {
      const l = large(slot, log, 'L', 4, 2);
      const s = small(slot, log, 's');
      await Promise.all([l, s]);
    } finally {
      clearInterval(hog);
    }
    expect(log).toEqual(['L 0', 'L 1', 'L 2', 'L 3', 's']);
  });
});
