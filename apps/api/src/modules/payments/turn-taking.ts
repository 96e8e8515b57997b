/**
 * One holder at a time, in arrival order, where a long holder takes turns. The holder calls
 * `share()` at its pauses: it gives the event loop back, and once the holder has worked
 * `sliceMs` since its turn began (its own time between pauses, not the time others had the
 * event loop) and someone waits, it hands the slot to the next in line and queues behind them.
 * Short holders never notice it (they finish within their turn); a long one no longer makes
 * every request behind it wait for all of it. Counting wall time instead would also end the
 * turns of ordinary requests under load, whose pauses are long when the process is busy: a
 * first version did, and bench:ingest gave 0.54 against 0.57 on average (five runs each,
 * alternated with the code before); counting work, 0.59 against 0.55 (three each).
 *
 * Not p-limit (used for the other stages): its slot cannot be given up and taken back in the
 * middle of a task.
 */
export class TurnTaking {
  private held = false;
  private readonly queue: (() => void)[] = [];
  /** The holder's own time in this turn before its last pause, and when it last resumed. */
  private worked = 0;
  private resumedAt = 0;

  constructor(private readonly sliceMs: number) {}

  /** Runs `task` holding the slot; `share` is the task's pause (see above). */
  async run<T>(task: (share: () => Promise<void>) => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await task(() => this.share());
    } finally {
      this.release();
    }
  }

  /** Requests waiting for the slot. */
  get waiting(): number {
    return this.queue.length;
  }

  private async acquire(): Promise<void> {
    if (this.held) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.held = true;
    this.worked = 0;
    this.resumedAt = performance.now();
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next(); // the slot passes on held
    else this.held = false;
  }

  private async share(): Promise<void> {
    this.worked += performance.now() - this.resumedAt;
    if (this.queue.length > 0 && this.worked >= this.sliceMs) {
      this.release();
      await new Promise<void>((resolve) => this.queue.push(resolve));
      this.held = true;
      this.worked = 0;
    } else {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.resumedAt = performance.now();
  }
}
