import type { Kysely, Selectable, Transaction } from "kysely";
import type { Database } from "../../db/database.ts";
import type { ProjectApiKeySetsTable } from "../../db/schema.ts";
import { digestKey, generateProjectKey, type KeyKind, lastFour } from "../projects/keys.ts";
import type { KeySetCreated, KeySetRead } from "./schemas.ts";

type Db = Kysely<Database> | Transaction<Database>;
type KeySetRow = Selectable<ProjectApiKeySetsTable>;

export interface NewKeySet {
  description: string;
  expiresAt: Date;
  publishableClientKey: boolean;
  secretServerKey: boolean;
  superSecretAdminKey: boolean;
}

const kinds: KeyKind[] = ["publishable_client_key", "secret_server_key", "super_secret_admin_key"];

/** Creates a key set and returns it with the full keys; only their digests are stored. */
export async function createKeySet(db: Db, projectId: string, input: NewKeySet): Promise<KeySetCreated> {
  const wanted: Record<KeyKind, boolean> = {
    publishable_client_key: input.publishableClientKey,
    secret_server_key: input.secretServerKey,
    super_secret_admin_key: input.superSecretAdminKey,
  };
  const keys: Partial<Record<KeyKind, string>> = {};
  for (const kind of kinds) if (wanted[kind]) keys[kind] = generateProjectKey(kind);
  const column = (kind: KeyKind) => (keys[kind] ? digestKey(keys[kind]) : null);
  const four = (kind: KeyKind) => (keys[kind] ? lastFour(keys[kind]) : null);

  const row = await db
    .insertInto("project_api_key_sets")
    .values({
      project_id: projectId,
      description: input.description,
      publishable_client_key_hash: column("publishable_client_key"),
      publishable_client_key_last_four: four("publishable_client_key"),
      secret_server_key_hash: column("secret_server_key"),
      secret_server_key_last_four: four("secret_server_key"),
      super_secret_admin_key_hash: column("super_secret_admin_key"),
      super_secret_admin_key_last_four: four("super_secret_admin_key"),
      expires_at: input.expiresAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...baseView(row), ...keys };
}

export async function listKeySets(db: Db, projectId: string): Promise<KeySetRead[]> {
  const rows = await db
    .selectFrom("project_api_key_sets")
    .selectAll()
    .where("project_id", "=", projectId)
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .execute();
  return rows.map(readView);
}

export async function getKeySet(db: Db, projectId: string, id: string): Promise<KeySetRead | null> {
  const row = await db
    .selectFrom("project_api_key_sets")
    .selectAll()
    .where("project_id", "=", projectId)
    .where("id", "=", id)
    .executeTakeFirst();
  return row ? readView(row) : null;
}

/** Updates the description and/or revokes; revocation is one-way and keeps its first timestamp. */
export async function updateKeySet(
  db: Db,
  projectId: string,
  id: string,
  update: { description?: string; revoked?: true },
): Promise<KeySetRead | null> {
  if (update.description === undefined && !update.revoked) return getKeySet(db, projectId, id);
  const row = await db
    .updateTable("project_api_key_sets")
    .set((eb) => ({
      ...(update.description !== undefined ? { description: update.description } : {}),
      ...(update.revoked
        ? { manually_revoked_at: eb.fn.coalesce("manually_revoked_at", eb.fn<Date>("now", [])) }
        : {}),
    }))
    .where("project_id", "=", projectId)
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  return row ? readView(row) : null;
}

function baseView(row: KeySetRow) {
  return {
    id: row.id,
    description: row.description,
    created_at_millis: row.created_at.getTime(),
    expires_at_millis: row.expires_at.getTime(),
    ...(row.manually_revoked_at ? { manually_revoked_at_millis: row.manually_revoked_at.getTime() } : {}),
  };
}

function readView(row: KeySetRow): KeySetRead {
  const view: KeySetRead = baseView(row);
  if (row.publishable_client_key_last_four)
    view.publishable_client_key = { last_four: row.publishable_client_key_last_four };
  if (row.secret_server_key_last_four)
    view.secret_server_key = { last_four: row.secret_server_key_last_four };
  if (row.super_secret_admin_key_last_four)
    view.super_secret_admin_key = { last_four: row.super_secret_admin_key_last_four };
  return view;
}
