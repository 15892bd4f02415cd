import { randomUUID } from "node:crypto";
import { type Kysely, sql } from "kysely";
import type { Database } from "../db/schema.ts";

/** How a value was obtained: stored and fresh, stored but past its freshness, or computed now. */
export type CacheState = "hit" | "stale" | "miss";

export interface CacheRequest<T> {
  /** The feature owning the entry ("metrics"); namespaces never see each other's keys. */
  namespace: string;
  /** The key inside the namespace. Tenancy-specific values must include the tenancy in the key. */
  key: string;
  /** Set for tenancy-specific entries, so `invalidateTenancy` can drop them. */
  tenancyId?: string;
  /** How long a computed value is served as is. */
  freshMs: number;
  /**
   * How long after that it is still served — immediately, while one process recomputes it in the
   * background (stale-while-revalidate). 0 = never served stale.
   */
  staleMs?: number;
  /** Computes the value. It must be JSON-serialisable; what comes back is the JSON round trip of it. */
  load: () => Promise<T>;
}

export interface CacheResult<T> {
  value: T;
  state: CacheState;
}

export interface PersistentCacheOptions {
  /**
   * How long a process may compute one value before others stop waiting for it and compute it
   * themselves (covers a process killed while computing).
   */
  leaseMs?: number;
  /** Receives background refresh failures (stale values keep being served meanwhile). */
  onBackgroundError?: (error: unknown, namespace: string, key: string) => void;
}

interface StoredEntry {
  payload: unknown;
  /** False while the first computation is under way (a stored JSON null is a value). */
  has_value: boolean;
  fresh: boolean;
  servable: boolean;
  computing: boolean;
}

/**
 * A cache of computed values in PostgreSQL (`cache_entries`), shared by every process of a
 * deployment. Beyond a TTL it gives:
 *
 * - **single flight across processes**: concurrent misses of one key compute it once. The first takes
 *   a lease on the row; the others wait for its result (polling the row) and compute only if the lease
 *   expires, e.g. because its process died.
 * - **stale-while-revalidate**: past `freshMs` and within `staleMs` the stored value is answered at
 *   once and one process recomputes it behind the answer.
 * - **invalidation**: `invalidate` and `invalidateTenancy` delete entries; a computation that started
 *   before the invalidation does not store its result afterwards (its lease is gone with the row).
 * - **eviction**: `evictExpired` deletes entries past their stale window.
 *
 * Times are the database's clock, so processes with skewed clocks agree on freshness.
 */
export class PersistentCache {
  private readonly leaseMs: number;
  /** This process's computations (and waits) by key: one per key however many callers. */
  private readonly inflight = new Map<string, Promise<CacheResult<unknown>>>();
  private readonly refreshing = new Set<string>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: PersistentCacheOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? 60_000;
  }

  async getOrSet<T>(request: CacheRequest<T>): Promise<CacheResult<T>> {
    assertValidRequest(request);
    const stored = await this.read(request.namespace, request.key);
    if (stored?.has_value) {
      if (stored.fresh) return { value: stored.payload as T, state: "hit" };
      if (stored.servable) {
        if (!stored.computing) this.refreshInBackground(request);
        return { value: stored.payload as T, state: "stale" };
      }
    }
    const id = flightId(request.namespace, request.key);
    const pending = this.inflight.get(id);
    if (pending) return pending as Promise<CacheResult<T>>;
    const flight = this.computeOnce(request).finally(() => this.inflight.delete(id));
    this.inflight.set(id, flight);
    return flight;
  }

  /** Deletes one entry; the next read computes it again. */
  async invalidate(namespace: string, key: string): Promise<void> {
    await this.db
      .deleteFrom("cache_entries")
      .where("namespace", "=", namespace)
      .where("cache_key", "=", key)
      .execute();
  }

  /** Deletes a tenancy's entries, of one namespace or of all. */
  async invalidateTenancy(tenancyId: string, namespace?: string): Promise<number> {
    let query = this.db.deleteFrom("cache_entries").where("tenancy_id", "=", tenancyId);
    if (namespace) query = query.where("namespace", "=", namespace);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Deletes entries past their stale window (and abandoned first computations); returns how many. */
  async evictExpired(): Promise<number> {
    const result = await sql`
      DELETE FROM cache_entries
       WHERE (stale_until < now() OR (payload IS NULL AND computing_until < now()))
         AND (computing_until IS NULL OR computing_until < now())`.execute(this.db);
    return Number(result.numAffectedRows ?? 0);
  }

  private async read(namespace: string, key: string): Promise<StoredEntry | undefined> {
    const { rows } = await sql<StoredEntry>`
      SELECT payload, payload IS NOT NULL AS has_value, coalesce(fresh_until > now(), false) AS fresh,
             coalesce(stale_until > now(), false) AS servable,
             coalesce(computing_until > now(), false) AS computing
        FROM cache_entries WHERE namespace = ${namespace} AND cache_key = ${key}`.execute(this.db);
    return rows[0];
  }

  /** Computes the value, or waits for the process that holds the lease to store it. */
  private async computeOnce<T>(request: CacheRequest<T>): Promise<CacheResult<T>> {
    let pause = 10;
    for (;;) {
      const lease = await this.claim(request);
      if (lease) return { value: await this.computeUnderLease(request, lease), state: "miss" };
      await delay(pause);
      pause = Math.min(pause * 2, 100);
      const stored = await this.read(request.namespace, request.key);
      if (stored?.has_value && stored.servable) {
        return { value: stored.payload as T, state: stored.fresh ? "hit" : "stale" };
      }
    }
  }

  /**
   * Takes the key's lease unless another process holds a live one or a fresh value is stored; creates
   * the row on a first miss. Returns the lease token, or null when someone else is computing.
   */
  private async claim<T>(request: CacheRequest<T>): Promise<string | null> {
    const token = randomUUID();
    const { rows } = await sql<{ lease_token: string }>`
      INSERT INTO cache_entries (namespace, cache_key, tenancy_id, lease_token, computing_until)
      VALUES (${request.namespace}, ${request.key}, ${request.tenancyId ?? null}, ${token},
              now() + ${this.leaseMs} * interval '1 millisecond')
      ON CONFLICT (namespace, cache_key) DO UPDATE
        SET lease_token = excluded.lease_token, computing_until = excluded.computing_until
      WHERE (cache_entries.computing_until IS NULL OR cache_entries.computing_until < now())
        AND NOT coalesce(cache_entries.fresh_until > now(), false)
      RETURNING lease_token`.execute(this.db);
    return rows[0]?.lease_token === token ? token : null;
  }

  private async computeUnderLease<T>(request: CacheRequest<T>, lease: string): Promise<T> {
    let value: T;
    try {
      value = await request.load();
    } catch (error) {
      await sql`UPDATE cache_entries SET lease_token = NULL, computing_until = NULL
                 WHERE namespace = ${request.namespace} AND cache_key = ${request.key} AND lease_token = ${lease}`
        .execute(this.db)
        .catch(() => {});
      throw error;
    }
    const json = JSON.stringify(value ?? null);
    // Stored only while the lease is ours: an invalidation meanwhile deleted the row (and the lease).
    await sql`
      UPDATE cache_entries
         SET payload = ${json}::jsonb,
             fresh_until = now() + ${request.freshMs} * interval '1 millisecond',
             stale_until = now() + ${request.freshMs + (request.staleMs ?? 0)} * interval '1 millisecond',
             lease_token = NULL, computing_until = NULL, updated_at = now()
       WHERE namespace = ${request.namespace} AND cache_key = ${request.key} AND lease_token = ${lease}`.execute(
      this.db,
    );
    return JSON.parse(json) as T;
  }

  private refreshInBackground<T>(request: CacheRequest<T>): void {
    const id = flightId(request.namespace, request.key);
    if (this.refreshing.has(id)) return;
    this.refreshing.add(id);
    (async () => {
      const lease = await this.claim(request);
      if (lease) await this.computeUnderLease(request, lease);
    })()
      .catch((error) => this.options.onBackgroundError?.(error, request.namespace, request.key))
      .finally(() => this.refreshing.delete(id));
  }
}

function assertValidRequest(request: CacheRequest<unknown>): void {
  if (!request.namespace) throw new Error("Cache namespace must be a non-empty string.");
  if (!request.key) throw new Error("Cache key must be a non-empty string.");
  if (!Number.isFinite(request.freshMs) || request.freshMs <= 0) {
    throw new Error("Cache TTL must be a positive number.");
  }
  if (request.staleMs !== undefined && (!Number.isFinite(request.staleMs) || request.staleMs < 0)) {
    throw new Error("Cache stale window must be zero or a positive number.");
  }
}

const flightId = (namespace: string, key: string) => `${namespace}\u0000${key}`;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
