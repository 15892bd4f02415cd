import { gunzipSync } from "node:zlib";
import type { AppContext } from "../../app-context.ts";
import { KnownError } from "../../errors/index.ts";
import { isUuid } from "../../http/requirements.ts";
import { replayBlobStore } from "./blob-store.ts";

export interface ChunkRow {
  id: string;
  batch_id: string;
  session_replay_segment_id: string | null;
  browser_session_id: string | null;
  blob_key: string;
  event_count: number;
  byte_length: number;
  first_event_at: Date;
  last_event_at: Date;
  created_at: Date;
}

export const chunkView = (chunk: ChunkRow) => ({
  id: chunk.id,
  batch_id: chunk.batch_id,
  session_replay_segment_id: chunk.session_replay_segment_id,
  browser_session_id: chunk.browser_session_id,
  event_count: chunk.event_count,
  byte_length: chunk.byte_length,
  first_event_at_millis: chunk.first_event_at.getTime(),
  last_event_at_millis: chunk.last_event_at.getTime(),
  created_at_millis: chunk.created_at.getTime(),
});

/** The replay must exist in the caller's tenancy; anything else is "not found" (never "not yours"). */
export async function assertReplayExists(
  app: AppContext,
  tenancyId: string,
  replayId: string,
): Promise<void> {
  const found =
    isUuid(replayId) &&
    (await app.database.db
      .selectFrom("session_replays")
      .select("id")
      .where("tenancy_id", "=", tenancyId)
      .where("id", "=", replayId)
      .executeTakeFirst());
  if (!found) throw new KnownError("ITEM_NOT_FOUND", replayId);
}

const chunkColumns = [
  "id",
  "batch_id",
  "session_replay_segment_id",
  "browser_session_id",
  "blob_key",
  "event_count",
  "byte_length",
  "first_event_at",
  "last_event_at",
  "created_at",
] as const;

/** Chunks of a replay in playback order (first event, then id), optionally after a cursor chunk. */
export async function selectChunks(
  app: AppContext,
  tenancyId: string,
  replayId: string,
  page?: { after: ChunkRow | null; limit: number },
): Promise<ChunkRow[]> {
  let query = app.database.db
    .selectFrom("session_replay_chunks")
    .select(chunkColumns)
    .where("tenancy_id", "=", tenancyId)
    .where("session_replay_id", "=", replayId)
    .orderBy("first_event_at", "asc")
    .orderBy("id", "asc");
  if (page?.after) {
    const after = page.after;
    query = query.where((eb) =>
      eb.or([
        eb("first_event_at", ">", after.first_event_at),
        eb.and([eb("first_event_at", "=", after.first_event_at), eb("id", ">", after.id)]),
      ]),
    );
  }
  if (page) query = query.limit(page.limit);
  return query.execute();
}

/** One chunk of one replay; a chunk of another replay (or tenancy) is not found. */
export async function selectChunk(
  app: AppContext,
  tenancyId: string,
  replayId: string,
  chunkId: string,
): Promise<ChunkRow> {
  const chunk = isUuid(chunkId)
    ? await app.database.db
        .selectFrom("session_replay_chunks")
        .select(chunkColumns)
        .where("tenancy_id", "=", tenancyId)
        .where("session_replay_id", "=", replayId)
        .where("id", "=", chunkId)
        .executeTakeFirst()
    : undefined;
  if (!chunk) throw new KnownError("ITEM_NOT_FOUND", chunkId);
  return chunk;
}

/** The rrweb events of a chunk, exactly as uploaded. */
export async function chunkEvents(app: AppContext, replayId: string, chunk: ChunkRow): Promise<unknown[]> {
  const blob = await replayBlobStore(app.database.db).get(chunk.blob_key);
  if (!blob) throw new KnownError("ITEM_NOT_FOUND", chunk.id);
  const stored = JSON.parse(gunzipSync(blob).toString("utf8")) as {
    session_replay_id: string;
    events: unknown[];
  };
  if (stored.session_replay_id !== replayId || !Array.isArray(stored.events)) {
    throw new Error(`Replay blob ${chunk.blob_key} does not belong to replay ${replayId}`);
  }
  return stored.events;
}

/** Runs `work` over `items` with at most `limit` running at once, keeping the order of results. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
