import type { Db } from "../users/records.ts";

/**
 * Where recorded replay chunks (gzip JSON) live. Keys are object-store keys, so an S3-compatible bucket
 * can take this interface's place without touching the routes.
 */
export interface BlobStore {
  /** Stores a blob; putting the same key again keeps the first body (keys are content-addressed by batch). */
  put(key: string, body: Buffer): Promise<void>;
  /** The blob, or null when there is none under that key. */
  get(key: string): Promise<Buffer | null>;
}

/** The embedded default: blobs in a PostgreSQL `bytea` table. */
export class PostgresBlobStore implements BlobStore {
  constructor(private readonly db: Db) {}

  async put(key: string, body: Buffer): Promise<void> {
    await this.db
      .insertInto("session_replay_blobs")
      .values({ key, body })
      .onConflict((conflict) => conflict.column("key").doNothing())
      .execute();
  }

  async get(key: string): Promise<Buffer | null> {
    const row = await this.db
      .selectFrom("session_replay_blobs")
      .select("body")
      .where("key", "=", key)
      .executeTakeFirst();
    return row?.body ?? null;
  }
}

/**
 * The blob store replays use: the one place to choose another implementation. Give it the transaction
 * that writes the blob's chunk: the embedded store's blob then commits or rolls back with its chunk,
 * and goes when the chunk is deleted (migration 20261201000300).
 */
export const replayBlobStore = (db: Db): BlobStore => new PostgresBlobStore(db);
