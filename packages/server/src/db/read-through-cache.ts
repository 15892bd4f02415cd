/**
 * An in-memory read-through cache for rows that change rarely and are read on every request (projects,
 * key digests, rendered config). Entries expire after `ttlMs` as a safety net; the real freshness comes
 * from `invalidate`, which change notifications call.
 *
 * A load that started before an invalidation must not store its (possibly stale) result afterwards:
 * every invalidation bumps a generation counter and a load only stores if the counter did not move.
 * Concurrent misses for one key share a single load.
 */
export class ReadThroughCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<V>>();
  private generation = 0;
  private readonly keyGenerations = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly load: (key: string) => Promise<V>,
    /** Bounds memory when callers probe many distinct keys (e.g. random project ids). */
    private readonly maxEntries = 10_000,
  ) {}

  get(key: string): Promise<V> | V {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > Date.now()) return entry.value;
    const pending = this.inflight.get(key);
    if (pending) return pending;
    return this.startLoad(key);
  }

  invalidate(key: string): void {
    this.entries.delete(key);
    this.inflight.delete(key);
    this.keyGenerations.set(key, (this.keyGenerations.get(key) ?? 0) + 1);
  }

  clear(): void {
    this.entries.clear();
    this.inflight.clear();
    this.keyGenerations.clear();
    this.generation++;
  }

  private startLoad(key: string): Promise<V> {
    const generation = this.generation;
    const keyGeneration = this.keyGenerations.get(key) ?? 0;
    const promise = this.load(key).then(
      (value) => {
        const fresh = generation === this.generation && keyGeneration === (this.keyGenerations.get(key) ?? 0);
        if (fresh) {
          if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
          this.entries.set(key, { value, expiresAt: Date.now() + this.ttlMs });
        }
        if (this.inflight.get(key) === promise) this.inflight.delete(key);
        return value;
      },
      (error) => {
        if (this.inflight.get(key) === promise) this.inflight.delete(key);
        throw error;
      },
    );
    this.inflight.set(key, promise);
    return promise;
  }
}
