interface Waiter {
  small: boolean;
  wake: () => void;
}

/**
 * One holder at a time, in arrival order, except that small tasks overtake a large one at its
 * pauses. The holder calls `share()` at its pauses: it gives the event loop back, and once a
 * large holder has worked `sliceMs` since its turn began (its own time between pauses, not the
 * time others had the event loop) and small tasks wait, it lets them through — every small
 * task waiting then, and those that arrive while they run — before it goes on.
 *
 * Why only small ones: a small ingest request (an ordinary batch) no longer waits seconds behind
 * a huge body, while large requests still go one after the other, so at most one large request
 * is partly done at a time: its memory, and the pipeline that stores one request while the next
 * is validated, stay as they were. (A first version let every queued request through; a
 * reviewer measured eight 100,000-event bodies all partly validated at once, 163 MB of live heap
 * against 25 MB, and none stored before all were validated.) Counting wall time instead of
 * work would also end the turns of ordinary requests under load, whose pauses are long when the
 * process is busy (bench:ingest 0.54 against 0.57 on average, five runs each).
 *
 * Not p-limit (used for the other stages): its slot cannot be given up and taken back in the
 * middle of a task.
 */
export class TurnTaking {
  private held = false;
  private readonly queue: Waiter[] = [];
  /** The large holder that let small tasks through, waiting to go on. */
  private paused: (() => void) | null = null;
  /** The holder's own time in this turn before its last pause, and when it last resumed. */
  private worked = 0;
  private resumedAt = 0;

  constructor(private readonly sliceMs: number) {}

  /** Runs `task` holding the slot; `share` is the task's pause (see above). */
  async run<T>(small: boolean, task: (share: () => Promise<void>) => Promise<T>): Promise<T> {
    await this.acquire(small);
    try {
      return await task(() => this.share(small));
    } finally {
      this.release();
    }
  }

  /** Tasks waiting for the slot (a paused large one not counted). */
  get waiting(): number {
    return this.queue.length;
  }

  private async acquire(small: boolean): Promise<void> {
    if (this.held) await new Promise<void>((wake) => this.queue.push({ small, wake }));
    this.held = true;
    this.worked = 0;
    this.resumedAt = performance.now();
  }

  /** Passes the slot on (it stays held) or frees it. */
  private release(): void {
    if (this.paused) {
      const i = this.queue.findIndex((w) => w.small);
      if (i >= 0) return this.queue.splice(i, 1)[0]!.wake();
      const wake = this.paused;
      this.paused = null;
      return wake();
    }
    const next = this.queue.shift();
    if (next) next.wake();
    else this.held = false;
  }

  private async share(small: boolean): Promise<void> {
    this.worked += performance.now() - this.resumedAt;
    if (!small && this.paused === null && this.worked >= this.sliceMs && this.queue.some((w) => w.small)) {
      const resumed = new Promise<void>((wake) => (this.paused = wake));
      this.release();
      await resumed;
      this.worked = 0;
    } else {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.resumedAt = performance.now();
  }
}
