import { randomUUID } from "node:crypto";
import type { ConfigObject } from "@latchkey/contracts";
import type { Kysely, Transaction } from "kysely";
import type { Database } from "../../db/database.ts";
import { newProjectEnvironmentOverride } from "./defaults.ts";

export interface NewProject {
  id?: string;
  displayName: string;
  description?: string;
  ownerTeamId?: string | null;
  isProductionMode?: boolean;
  /** Extra environment-level config on top of the new-project defaults. */
  environmentOverride?: ConfigObject;
}

/** Creates a project with its `main` branch and the new-project config, in one transaction. */
export async function insertProject(
  trx: Transaction<Database> | Kysely<Database>,
  input: NewProject,
): Promise<string> {
  const id = input.id ?? randomUUID();
  await trx
    .insertInto("projects")
    .values({
      id,
      display_name: input.displayName,
      description: input.description ?? "",
      owner_team_id: input.ownerTeamId ?? null,
      is_production_mode: input.isProductionMode ?? false,
      logo_url: null,
      logo_full_url: null,
      logo_dark_mode_url: null,
      logo_full_dark_mode_url: null,
    })
    .execute();
  await trx.insertInto("tenancies").values({ project_id: id, branch_id: "main" }).execute();
  await trx.insertInto("branch_config_overrides").values({ project_id: id, branch_id: "main" }).execute();
  await trx
    .insertInto("environment_config_overrides")
    .values({
      project_id: id,
      branch_id: "main",
      config: JSON.stringify({ ...newProjectEnvironmentOverride(), ...input.environmentOverride }),
    })
    .execute();
  return id;
}
