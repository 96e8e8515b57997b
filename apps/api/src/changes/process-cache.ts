/**
 * Values nearly every request reads and that rarely change (the settings row, failure-code
 * attributions, who a credential belongs to), kept in this process. Without it each GraphQL
 * request and each ingest batch paid one to three extra database round trips before doing
 * its work (docs/benchmarks.md).
 *
 * Correctness does not rest on the age limit: whoever changes such a value clears the cache
 * of its own process right after the commit, and the change bus clears it in every other
 * process (a NOTIFY sent in the writing transaction; a `resync` when the listener reconnects,
 * since notices may have been missed). `maxAgeMs` only bounds how long a value can survive a
 * notice that was lost anyway.
 *
 * A load that started before a clear does not store its (possibly old) value afterwards.
 */
export class ProcessCache<K, V> {
  private readonly entries = new Map<K, { value: V; at: number }>();
  private generation = 0;

  constructor(private readonly opts: { maxAgeMs: number; maxEntries: number }) {}

  /**
   * The cached value of `key`, else `load()`'s. `keep(value)` decides whether a loaded value
   * may be cached (e.g. only successful authentications, so unknown keys cannot fill memory).
   */
  async get(key: K, load: () => Promise<V>, keep: (value: V) => boolean = () => true): Promise<V> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.opts.maxAgeMs) return hit.value;
    const generation = this.generation;
    const value = await load();
    if (generation === this.generation && keep(value)) {
      if (this.entries.size >= this.opts.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      this.entries.delete(key);
      this.entries.set(key, { value, at: now });
    }
    return value;
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }
}
