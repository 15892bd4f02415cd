import type pg from "pg";

/**
 * Blobs a deleted user left before this migration go (an hour old or more); fresh ones and those of
 * live chunks stay. Afterwards, deleting a user takes its replay blobs along.
 */
export async function preMigration(client: pg.Client): Promise<{ tenancyId: string; userId: string }> {
  const projectId = crypto.randomUUID();
  await client.query("INSERT INTO projects (id, display_name) VALUES ($1, 'Replays')", [projectId]);
  const tenancy = await client.query(
    "INSERT INTO tenancies (project_id, branch_id) VALUES ($1, 'main') RETURNING id",
    [projectId],
  );
  const tenancyId: string = tenancy.rows[0].id;
  const user = await client.query("INSERT INTO users (tenancy_id) VALUES ($1) RETURNING id", [tenancyId]);
  const userId: string = user.rows[0].id;
  await insertChunk(client, tenancyId, userId, `kept-${tenancyId}`);
  await client.query(
    `INSERT INTO session_replay_blobs (key, body, created_at) VALUES
       ('orphan-old-${tenancyId}', '\\x00', now() - interval '2 hours'),
       ('orphan-new-${tenancyId}', '\\x00', now())`,
  );
  return { tenancyId, userId };
}

export async function postMigration(
  client: pg.Client,
  pre: { tenancyId: string; userId: string },
): Promise<void> {
  const keys = async () =>
    (
      await client.query<{ key: string }>(
        "SELECT key FROM session_replay_blobs WHERE key LIKE '%' || $1 ORDER BY key",
        [pre.tenancyId],
      )
    ).rows.map((row) => row.key.replace(`-${pre.tenancyId}`, ""));
  const afterMigration = await keys();
  if (afterMigration.join() !== "kept,orphan-new")
    throw new Error(`the migration kept ${afterMigration.join()} instead of kept,orphan-new`);
  await insertChunk(client, pre.tenancyId, pre.userId, `later-${pre.tenancyId}`);
  await client.query("DELETE FROM users WHERE id = $1", [pre.userId]);
  const afterDelete = await keys();
  if (afterDelete.join() !== "orphan-new")
    throw new Error(`deleting the user left ${afterDelete.join()} instead of only orphan-new`);
}

async function insertChunk(client: pg.Client, tenancyId: string, userId: string, key: string): Promise<void> {
  const replay = await client.query(
    `INSERT INTO session_replays (tenancy_id, user_id, refresh_token_id, started_at, last_event_at)
     VALUES ($1, $2, gen_random_uuid(), now(), now()) RETURNING id`,
    [tenancyId, userId],
  );
  await client.query("INSERT INTO session_replay_blobs (key, body) VALUES ($1, '\\x00')", [key]);
  await client.query(
    `INSERT INTO session_replay_chunks (tenancy_id, session_replay_id, batch_id, blob_key, event_count, byte_length,
       first_event_at, last_event_at)
     VALUES ($1, $2, gen_random_uuid(), $3, 1, 1, now(), now())`,
    [tenancyId, replay.rows[0].id, key],
  );
}
