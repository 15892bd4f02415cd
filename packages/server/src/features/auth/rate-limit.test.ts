import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/database.ts";
import { openDatabase } from "../../db/database.ts";
import { StatusError } from "../../errors/index.ts";
import { pruneRateLimits, rateLimited, waitFor } from "./rate-limit.ts";

let database: TestDatabase;
let handle: ReturnType<typeof openDatabase>;

beforeAll(async () => {
  database = await createTestDatabase();
  handle = openDatabase(database.url);
});
afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

const WINDOW_SECONDS = 60;
const WINDOW_START = Date.UTC(2026, 0, 1, 12, 0, 0);
const at = (secondsIntoFirstWindow: number) => WINDOW_START + secondsIntoFirstWindow * 1000;
const guarded = sql<{ answer: number }>`SELECT 42 AS answer`;

/** One hit at `now`: the guarded row, or the Retry-After seconds of a 429. */
async function hit(buckets: { bucket: string; limit: number }[], now: number) {
  try {
    return { row: await rateLimited(handle.db, buckets, WINDOW_SECONDS, guarded, now) };
  } catch (error) {
    if (!(error instanceof StatusError) || error.status !== 429) throw error;
    return { retryAfter: Number(error.headers?.["retry-after"]) };
  }
}

describe("sliding-window rate limit", () => {
  it("refuses a budget spent at the end of one window and again at the start of the next", async () => {
    const buckets = [{ bucket: `test:${randomUUID()}`, limit: 4 }];
    for (let i = 0; i < 4; i++) expect(await hit(buckets, at(55))).toEqual({ row: { answer: 42 } });
    // Ten seconds later a fixed window would be new and empty; 55 of the last 60 seconds still hold 4 hits.
    // Counting this refused one, the next fits once the old window weighs 2 of 4: 30 s into the new one.
    expect(await hit(buckets, at(65))).toEqual({ retryAfter: 25 });
    // Refused hits count too: one in the meantime pushes the wait on, so hammering never gets through.
    expect(await hit(buckets, at(80))).toEqual({ retryAfter: 25 });
    expect(await hit(buckets, at(105))).toEqual({ row: { answer: 42 } });
  });

  it("waits into the next window when the current one alone is over budget, and keeps buckets apart", async () => {
    const address = { bucket: `test:address:${randomUUID()}`, limit: 2 };
    const ip = { bucket: `test:ip:${randomUUID()}`, limit: 20 };
    expect(await hit([address, ip], at(0))).toEqual({ row: { answer: 42 } });
    expect(await hit([address, ip], at(0))).toEqual({ row: { answer: 42 } });
    // Over budget within the window: the next hit fits when the 3 hits here weigh 1 (the new one makes 2).
    expect(await hit([address, ip], at(30))).toEqual({ retryAfter: 30 + 40 });
    // Another address behind the same IP is untouched.
    const other = { bucket: `test:address:${randomUUID()}`, limit: 2 };
    expect(await hit([other, ip], at(30))).toEqual({ row: { answer: 42 } });
    expect(await hit([address, ip], at(101))).toEqual({ row: { answer: 42 } });
  });

  it("keeps a finished window while the sliding count still reads it", async () => {
    const bucket = `test:prune:${randomUUID()}`;
    expect(await hit([{ bucket, limit: 1 }], at(0))).toEqual({ row: { answer: 42 } });
    const rows = () =>
      handle.db
        .selectFrom("rate_limit_counters")
        .select("window_start")
        .where("bucket", "=", bucket)
        .execute();
    await pruneRateLimits(handle.db, WINDOW_SECONDS, { now: new Date(at(3599)) });
    expect(await rows()).toHaveLength(1);
    // Windows longer than half an hour are kept two of their lengths.
    await pruneRateLimits(handle.db, 3000, { now: new Date(at(5999)) });
    expect(await rows()).toHaveLength(1);
    await pruneRateLimits(handle.db, WINDOW_SECONDS, { now: new Date(at(3601)) });
    expect(await rows()).toHaveLength(0);
  });
});

describe("waitFor", () => {
  it("is 0 within budget and otherwise the part of a window until the next hit fits", () => {
    expect(waitFor({ current: 3, previous: 0 }, 3, 0.9)).toBe(0);
    expect(waitFor({ current: 1, previous: 4 }, 3, 0.5)).toBe(0);
    expect(waitFor({ current: 2, previous: 6 }, 3, 0.5)).toBeCloseTo(0.5);
    expect(waitFor({ current: 4, previous: 0 }, 3, 0.25)).toBeCloseTo(0.75 + 0.5);
  });
});
