import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/database.ts";
import { type DatabaseHandle, openDatabase } from "../db/database.ts";
import { createProjectWithKeys } from "../features/projects/index.ts";
import { PersistentCache } from "./persistent-cache.ts";

let database: TestDatabase;
let handle: DatabaseHandle;
let cache: PersistentCache;
let keyCounter = 0;
const freshKey = () => `key-${++keyCounter}-${Date.now()}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  database = await createTestDatabase();
  handle = openDatabase(database.url);
  cache = new PersistentCache(handle.db, { leaseMs: 2_000 });
  await sql`CREATE TABLE cache_test_loads (pid int NOT NULL)`.execute(handle.db);
});
afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

/** A loader that counts its calls and returns the count. */
/** A loader whose calls from the `heldFrom`-th on wait until `release()`: a computation held under way. */
function heldLoader(heldFrom: number) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const loader = async () => {
    loader.calls += 1;
    const call = loader.calls;
    if (call >= heldFrom) {
      markStarted();
      await released;
    }
    return { call };
  };
  loader.calls = 0;
  return Object.assign(loader, { release, started });
}

function countingLoader(delayMs = 0) {
  const loader = async () => {
    loader.calls += 1;
    if (delayMs > 0) await sleep(delayMs);
    return { call: loader.calls };
  };
  loader.calls = 0;
  return loader;
}

describe("PersistentCache", () => {
  it("computes on a miss and answers later reads from the stored value", async () => {
    const key = freshKey();
    const load = countingLoader();
    const first = await cache.getOrSet({ namespace: "t", key, freshMs: 60_000, load });
    const second = await cache.getOrSet({ namespace: "t", key, freshMs: 60_000, load });
    expect(first).toEqual({ value: { call: 1 }, state: "miss" });
    expect(second).toEqual({ value: { call: 1 }, state: "hit" });
    expect(load.calls).toBe(1);
    // Another namespace never sees the key.
    expect((await cache.getOrSet({ namespace: "other", key, freshMs: 60_000, load })).state).toBe("miss");
  });

  it("stores what JSON can carry, including null", async () => {
    const key = freshKey();
    const load = async () => null;
    expect(await cache.getOrSet({ namespace: "t", key, freshMs: 60_000, load })).toEqual({
      value: null,
      state: "miss",
    });
    expect(await cache.getOrSet({ namespace: "t", key, freshMs: 60_000, load })).toEqual({
      value: null,
      state: "hit",
    });
    const dated = await cache.getOrSet({
      namespace: "t",
      key: freshKey(),
      freshMs: 60_000,
      load: async () => new Date(0),
    });
    expect(dated.value).toBe("1970-01-01T00:00:00.000Z");
  });

  it("recomputes once the value expired (no stale window)", async () => {
    const key = freshKey();
    const load = countingLoader();
    await cache.getOrSet({ namespace: "t", key, freshMs: 100, load });
    await sleep(150);
    expect(await cache.getOrSet({ namespace: "t", key, freshMs: 100, load })).toEqual({
      value: { call: 2 },
      state: "miss",
    });
  });

  it("answers a stale value at once and refreshes it behind the answer", async () => {
    const key = freshKey();
    const load = heldLoader(2);
    await cache.getOrSet({ namespace: "t", key, freshMs: 100, staleMs: 60_000, load });
    await sleep(150);
    // The refresh it starts is held, so answering at all shows it did not wait for it.
    const stale = await cache.getOrSet({ namespace: "t", key, freshMs: 100, staleMs: 60_000, load });
    expect(stale).toEqual({ value: { call: 1 }, state: "stale" });
    await load.started;
    // Concurrent stale reads start no second refresh.
    await cache.getOrSet({ namespace: "t", key, freshMs: 100, staleMs: 60_000, load });
    load.release();
    await expect
      .poll(async () => (await cache.getOrSet({ namespace: "t", key, freshMs: 5_000, load })).value)
      .toEqual({
        call: 2,
      });
    expect(load.calls).toBe(2);
  });

  it("computes once for concurrent misses in one process", async () => {
    const key = freshKey();
    const load = countingLoader(100);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => cache.getOrSet({ namespace: "t", key, freshMs: 60_000, load })),
    );
    expect(load.calls).toBe(1);
    expect(new Set(results.map((result) => JSON.stringify(result.value)))).toEqual(new Set(['{"call":1}']));
  });

  it("computes once for concurrent misses in two processes", async () => {
    const key = freshKey();
    const outputs = await Promise.all([runContender(key), runContender(key)]);
    const { rows } = await sql<{ pid: number }>`SELECT pid FROM cache_test_loads`.execute(handle.db);
    expect(rows).toHaveLength(1);
    expect(outputs[0]).toEqual(outputs[1]);
    expect(JSON.parse(outputs[0]!)).toEqual({ computedBy: rows[0]!.pid });
  });

  it("takes over the computation of a process that died holding the lease", async () => {
    const key = freshKey();
    // A lease as a killed process leaves it: first computation under way, nobody to finish it.
    const started = Date.now();
    await sql`INSERT INTO cache_entries (namespace, cache_key, lease_token, computing_until)
              VALUES ('t', ${key}, gen_random_uuid(), now() + interval '300 milliseconds')`.execute(
      handle.db,
    );
    const load = countingLoader();
    expect(await cache.getOrSet({ namespace: "t", key, freshMs: 60_000, load })).toEqual({
      value: { call: 1 },
      state: "miss",
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it("releases the lease when the computation fails, so the next caller computes", async () => {
    const key = freshKey();
    const failing = async () => {
      throw new Error("boom");
    };
    await expect(cache.getOrSet({ namespace: "t", key, freshMs: 60_000, load: failing })).rejects.toThrow(
      "boom",
    );
    const load = countingLoader();
    expect((await cache.getOrSet({ namespace: "t", key, freshMs: 60_000, load })).state).toBe("miss");
  });

  it("invalidates one key, a tenancy's keys, and drops a result computed across an invalidation", async () => {
    const tenancy = await tenancyId();
    const [a, b] = [freshKey(), freshKey()];
    const load = countingLoader();
    await cache.getOrSet({ namespace: "t", key: a, tenancyId: tenancy, freshMs: 60_000, load });
    await cache.getOrSet({ namespace: "u", key: b, tenancyId: tenancy, freshMs: 60_000, load });
    await cache.invalidate("t", a);
    expect(
      (await cache.getOrSet({ namespace: "t", key: a, tenancyId: tenancy, freshMs: 60_000, load })).state,
    ).toBe("miss");
    expect(await cache.invalidateTenancy(tenancy, "u")).toBe(1);
    expect(await cache.invalidateTenancy(tenancy)).toBe(1);

    // An invalidation while a value is being computed: the (possibly outdated) result is not stored.
    const slowKey = freshKey();
    const held = heldLoader(1);
    const slow = cache.getOrSet({ namespace: "t", key: slowKey, freshMs: 60_000, load: held });
    await held.started;
    await cache.invalidate("t", slowKey);
    held.release();
    expect((await slow).state).toBe("miss");
    const { rows } = await sql`SELECT 1 FROM cache_entries WHERE cache_key = ${slowKey}`.execute(handle.db);
    expect(rows).toHaveLength(0);
  });

  it("evicts entries past their stale window and keeps the others", async () => {
    const [expired, live] = [freshKey(), freshKey()];
    await cache.getOrSet({
      namespace: "evict",
      key: expired,
      freshMs: 50,
      staleMs: 50,
      load: countingLoader(),
    });
    await cache.getOrSet({ namespace: "evict", key: live, freshMs: 60_000, load: countingLoader() });
    await sleep(150);
    expect(await cache.evictExpired()).toBeGreaterThanOrEqual(1);
    const { rows } = await sql<{ cache_key: string }>`
      SELECT cache_key FROM cache_entries WHERE namespace = 'evict'`.execute(handle.db);
    expect(rows.map((row) => row.cache_key)).toEqual([live]);
  });

  it("refuses empty names and non-positive lifetimes", async () => {
    const load = countingLoader();
    await expect(cache.getOrSet({ namespace: "", key: "k", freshMs: 1, load })).rejects.toThrow(
      "Cache namespace must be a non-empty string.",
    );
    await expect(cache.getOrSet({ namespace: "t", key: "", freshMs: 1, load })).rejects.toThrow(
      "Cache key must be a non-empty string.",
    );
    await expect(cache.getOrSet({ namespace: "t", key: "k", freshMs: 0, load })).rejects.toThrow(
      "Cache TTL must be a positive number.",
    );
    await expect(cache.getOrSet({ namespace: "t", key: "k", freshMs: Number.NaN, load })).rejects.toThrow(
      "Cache TTL must be a positive number.",
    );
    expect(load.calls).toBe(0);
  });
});

async function tenancyId(): Promise<string> {
  const { projectId } = await createProjectWithKeys(handle, { displayName: "cache test" });
  const { rows } = await sql<{
    id: string;
  }>`SELECT id FROM tenancies WHERE project_id = ${projectId}`.execute(handle.db);
  return rows[0]!.id;
}

function runContender(key: string): Promise<string> {
  const script = fileURLToPath(new URL("../../test/cache-contender.ts", import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, database.url, key], { stdio: "pipe" });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      err += chunk;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`contender failed: ${err}`)),
    );
  });
}
