import type pg from "pg";

/**
 * A deleted user's tombstones (the user's and its channel's) lose everything but their keys, and the
 * tombstones written afterwards hold only keys from the start.
 */
export async function preMigration(client: pg.Client): Promise<{ tenancyId: string; userId: string }> {
  const projectId = crypto.randomUUID();
  await client.query("INSERT INTO projects (id, display_name) VALUES ($1, 'Tombstones')", [projectId]);
  const tenancy = await client.query(
    "INSERT INTO tenancies (project_id, branch_id) VALUES ($1, 'main') RETURNING id",
    [projectId],
  );
  const tenancyId: string = tenancy.rows[0].id;
  const userId = await insertUserWithEmail(client, tenancyId, "gone@example.com");
  await client.query("DELETE FROM users WHERE id = $1", [userId]);
  const before = await tombstoneKeys(client, tenancyId);
  if (!before.includes("display_name") || !before.includes("value"))
    throw new Error(`expected whole rows in the tombstones before the migration, got ${before}`);
  return { tenancyId, userId };
}

export async function postMigration(
  client: pg.Client,
  pre: { tenancyId: string; userId: string },
): Promise<void> {
  const stripped = await tombstoneKeys(client, pre.tenancyId);
  if (stripped !== "contact_channels:id,tenancy_id,user_id;users:id,tenancy_id")
    throw new Error(`the migration left ${stripped}`);
  const text = JSON.stringify(
    (await client.query("SELECT data FROM sync_deleted_rows WHERE tenancy_id = $1", [pre.tenancyId])).rows,
  );
  if (text.includes("gone@example.com") || !text.includes(pre.userId))
    throw new Error(`the tombstones should keep the user's id and lose its address: ${text}`);

  const later = await insertUserWithEmail(client, pre.tenancyId, "later@example.com");
  await client.query("DELETE FROM users WHERE id = $1", [later]);
  const afterDelete = await tombstoneKeys(client, pre.tenancyId);
  if (afterDelete !== stripped) throw new Error(`a delete after the migration wrote ${afterDelete}`);
}

async function insertUserWithEmail(client: pg.Client, tenancyId: string, email: string): Promise<string> {
  const user = await client.query(
    "INSERT INTO users (tenancy_id, display_name) VALUES ($1, 'Someone') RETURNING id",
    [tenancyId],
  );
  const userId: string = user.rows[0].id;
  await client.query(
    `INSERT INTO contact_channels (tenancy_id, user_id, type, value, is_primary, is_verified, used_for_auth)
     VALUES ($1, $2, 'email', $3, true, true, true)`,
    [tenancyId, userId, email],
  );
  return userId;
}

/** Per source table, the distinct key sets of the tenancy's tombstones: `table:k1,k2;…`. */
async function tombstoneKeys(client: pg.Client, tenancyId: string): Promise<string> {
  const { rows } = await client.query<{ entry: string }>(
    `SELECT DISTINCT table_name || ':' || (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(data) k) AS entry
       FROM sync_deleted_rows WHERE tenancy_id = $1 ORDER BY 1`,
    [tenancyId],
  );
  return rows.map((row) => row.entry).join(";");
}
