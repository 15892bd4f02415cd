import { gzipSync } from "node:zlib";
import { type Kysely, sql } from "kysely";
import type { AppContext } from "../../app-context.ts";
import type { Database } from "../../db/schema.generated.ts";
import { recentReplayId } from "../analytics/ingestion.ts";
import { MAX_TIMESTAMP_MS } from "../analytics/schemas.ts";
import { replayBlobStore } from "./blob-store.ts";

export interface ReplayBatch {
  browser_session_id: string;
  session_replay_segment_id: string;
  batch_id: string;
  started_at_ms: number;
  sent_at_ms: number;
  events: unknown[];
}

export interface UploadScope {
  tenancyId: string;
  projectId: string;
  branchId: string;
  userId: string;
  refreshTokenId: string;
}

/** The span the events cover, from their own `timestamp`s (rrweb's), else the client's send time. */
export function eventSpan(events: readonly unknown[], fallbackMs: number): { first: number; last: number } {
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const event of events) {
    const timestamp = (event as { timestamp?: unknown } | null)?.timestamp;
    if (typeof timestamp !== "number" || !Number.isFinite(timestamp)) continue;
    if (timestamp < 0 || timestamp > MAX_TIMESTAMP_MS) continue;
    first = Math.min(first, timestamp);
    last = Math.max(last, timestamp);
  }
  return Number.isFinite(first) ? { first, last } : { first: fallbackMs, last: fallbackMs };
}

export const blobKey = (scope: UploadScope, replayId: string, batchId: string) =>
  `session-replays/${scope.projectId}/${scope.branchId}/${replayId}/${batchId}.json.gz`;

/**
 * Stores one upload: attaches it to the session's open replay (or opens one), then stores the gzip
 * blob and its chunk row once per batch id — a retried upload is answered as a duplicate.
 */
export async function storeReplayBatch(
  app: AppContext,
  scope: UploadScope,
  batch: ReplayBatch,
): Promise<{ session_replay_id: string; batch_id: string; s3_key: string; deduped: boolean }> {
  const db = app.database.db;
  const span = eventSpan(batch.events, batch.sent_at_ms);
  const replayId = await attachToReplay(db, scope, span);
  const existing = await db
    .selectFrom("session_replay_chunks")
    .select("blob_key")
    .where("tenancy_id", "=", scope.tenancyId)
    .where("session_replay_id", "=", replayId)
    .where("batch_id", "=", batch.batch_id)
    .executeTakeFirst();
  if (existing)
    return {
      session_replay_id: replayId,
      batch_id: batch.batch_id,
      s3_key: existing.blob_key,
      deduped: true,
    };

  const key = blobKey(scope, replayId, batch.batch_id);
  const body = gzipSync(
    JSON.stringify({
      v: 1,
      session_replay_id: replayId,
      browser_session_id: batch.browser_session_id,
      session_replay_segment_id: batch.session_replay_segment_id,
      batch_id: batch.batch_id,
      started_at_ms: batch.started_at_ms,
      sent_at_ms: batch.sent_at_ms,
      events: batch.events,
    }),
  );
  // The blob and its chunk commit together: a chunk that cannot be written (its replay deleted
  // meanwhile) leaves no blob behind.
  const inserted = await db.transaction().execute(async (trx) => {
    await replayBlobStore(trx).put(key, body);
    return trx
      .insertInto("session_replay_chunks")
      .values({
        tenancy_id: scope.tenancyId,
        session_replay_id: replayId,
        batch_id: batch.batch_id,
        session_replay_segment_id: batch.session_replay_segment_id,
        browser_session_id: batch.browser_session_id,
        blob_key: key,
        event_count: batch.events.length,
        byte_length: body.length,
        first_event_at: new Date(span.first),
        last_event_at: new Date(span.last),
      })
      .onConflict((conflict) => conflict.columns(["tenancy_id", "session_replay_id", "batch_id"]).doNothing())
      .returning("id")
      .executeTakeFirst();
  });
  return { session_replay_id: replayId, batch_id: batch.batch_id, s3_key: key, deduped: !inserted };
}

/**
 * Finds the session's open replay and widens its span, or opens a new one. A transaction-scoped lock
 * per session makes concurrent uploads of one session agree on one replay.
 */
async function attachToReplay(
  db: Kysely<Database>,
  scope: UploadScope,
  span: { first: number; last: number },
): Promise<string> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`${scope.tenancyId}:${scope.refreshTokenId}`}, 0))`.execute(
      trx,
    );
    const openId = await recentReplayId(trx, scope.tenancyId, scope.refreshTokenId);
    if (openId) {
      await trx
        .updateTable("session_replays")
        .set({
          started_at: sql`least(started_at, ${new Date(span.first)})`,
          last_event_at: sql`greatest(last_event_at, ${new Date(span.last)})`,
          updated_at: sql`now()`,
        })
        .where("tenancy_id", "=", scope.tenancyId)
        .where("id", "=", openId)
        .execute();
      return openId;
    }
    const created = await trx
      .insertInto("session_replays")
      .values({
        tenancy_id: scope.tenancyId,
        user_id: scope.userId,
        refresh_token_id: scope.refreshTokenId,
        started_at: new Date(span.first),
        last_event_at: new Date(span.last),
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return created.id;
  });
}
