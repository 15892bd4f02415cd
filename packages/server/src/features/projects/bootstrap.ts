import { sql } from "kysely";
import type { DatabaseHandle } from "../../db/database.ts";
import { createKeySet } from "../project-keys/queries.ts";
import type { KeySetCreated } from "../project-keys/schemas.ts";
import { insertProject } from "./queries.ts";

const FAR_FUTURE = new Date("2099-12-31T00:00:00Z");

/**
 * Creates the internal project (whose users will be dashboard accounts) on first boot. Returns its key
 * set when this call created it — the only moment the keys can be shown — and null otherwise. Safe to
 * call from several processes at once.
 */
export async function ensureInternalProject(database: DatabaseHandle): Promise<KeySetCreated | null> {
  return database.db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext('latchkey:internal-project'))`.execute(trx);
    const existing = await trx
      .selectFrom("projects")
      .select("id")
      .where("id", "=", "internal")
      .executeTakeFirst();
    if (existing) return null;
    await insertProject(trx, {
      id: "internal",
      displayName: "Stack Dashboard",
      description: "Latchkey's own project: its users are dashboard accounts and its teams own projects.",
      environmentOverride: {
        "teams.allowClientTeamCreation": true,
        "teams.createPersonalTeamOnSignUp": true,
      },
    });
    return createKeySet(trx, "internal", {
      description: "Created on first boot",
      expiresAt: FAR_FUTURE,
      publishableClientKey: true,
      secretServerKey: true,
      superSecretAdminKey: true,
    });
  });
}

/** Creates a project with a full key set (CLI `projects create`). */
export async function createProjectWithKeys(
  database: DatabaseHandle,
  input: { displayName: string; description?: string },
): Promise<{ projectId: string; keys: KeySetCreated }> {
  return database.db.transaction().execute(async (trx) => {
    const projectId = await insertProject(trx, input);
    const keys = await createKeySet(trx, projectId, {
      description: "Created with the CLI",
      expiresAt: FAR_FUTURE,
      publishableClientKey: true,
      secretServerKey: true,
      superSecretAdminKey: true,
    });
    return { projectId, keys };
  });
}
