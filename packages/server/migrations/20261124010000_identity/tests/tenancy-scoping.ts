import type pg from "pg";

/**
 * A project created before the identity migration gets users afterwards; deleting the project removes
 * them, and rate-limit counters are kept out of the WAL.
 */
export async function preMigration(client: pg.Client): Promise<{ projectId: string; tenancyId: string }> {
  const projectId = crypto.randomUUID();
  await client.query("INSERT INTO projects (id, display_name) VALUES ($1, 'Before identity')", [projectId]);
  const { rows } = await client.query(
    "INSERT INTO tenancies (project_id, branch_id) VALUES ($1, 'main') RETURNING id",
    [projectId],
  );
  return { projectId, tenancyId: rows[0].id };
}

export async function postMigration(
  client: pg.Client,
  pre: { projectId: string; tenancyId: string },
): Promise<void> {
  const { rows } = await client.query("INSERT INTO users (tenancy_id) VALUES ($1) RETURNING id", [
    pre.tenancyId,
  ]);
  const userId = rows[0].id;
  await client.query(
    "INSERT INTO contact_channels (tenancy_id, user_id, value, is_primary, used_for_auth) VALUES ($1, $2, 'a@example.com', true, true)",
    [pre.tenancyId, userId],
  );
  const other = await client.query("INSERT INTO users (tenancy_id) VALUES ($1) RETURNING id", [
    pre.tenancyId,
  ]);
  try {
    await client.query(
      "INSERT INTO contact_channels (tenancy_id, user_id, value, used_for_auth) VALUES ($1, $2, 'a@example.com', true)",
      [pre.tenancyId, other.rows[0].id],
    );
    throw new Error("two users of one tenancy signed in with the same address");
  } catch (error) {
    if ((error as { constraint?: string }).constraint !== "contact_channels_auth_value") throw error;
  }
  await client.query("DELETE FROM projects WHERE id = $1", [pre.projectId]);
  const left = await client.query("SELECT count(*)::int AS n FROM users WHERE tenancy_id = $1", [
    pre.tenancyId,
  ]);
  if (left.rows[0].n !== 0) throw new Error("deleting the project left its users behind");
  const persistence = await client.query(
    "SELECT relpersistence FROM pg_class WHERE relname = 'rate_limit_counters'",
  );
  if (persistence.rows[0].relpersistence !== "u") throw new Error("rate_limit_counters should be UNLOGGED");
}
