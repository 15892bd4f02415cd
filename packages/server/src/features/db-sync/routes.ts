import { sql } from "kysely";
import { Type } from "typebox";
import type { AppContext } from "../../app-context.ts";
import { KnownError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import { defineRoute, json } from "../../http/route.ts";
import { enqueueEverySync, enqueueTenancySync } from "./queue.ts";
import { globalSyncStatus, syncStatus } from "./status.ts";

const tags = ["External DB Sync"];

const statusQuery = Type.Object(
  { scope: Type.Optional(Type.Union([Type.Literal("tenancy"), Type.Literal("all")])) },
  { additionalProperties: false },
);
const globalFusebox = Type.Object(
  { sequencer_enabled: Type.Boolean(), poller_enabled: Type.Boolean() },
  { additionalProperties: false },
);
const projectFusebox = Type.Object(
  { sequencer_enabled: Type.Boolean(), delivery_enabled: Type.Boolean() },
  { additionalProperties: false },
);

/** Wakes every process's sequencer and queues the tenancy's targets: paused work resumes at once. */
async function resume(app: AppContext, tenancyId: string): Promise<void> {
  await sql`SELECT pg_notify('latchkey_sync_dirty', '')`.execute(app.database.db);
  await enqueueTenancySync(app, app.database.db, tenancyId);
}

function requireInternal(auth: RequestAuth): void {
  if (auth.project.id !== "internal") throw new KnownError("EXPECTED_INTERNAL_PROJECT");
}

async function readGlobalFusebox(app: AppContext) {
  const row = await app.database.db.selectFrom("sync_fusebox").selectAll().executeTakeFirst();
  return {
    ok: true,
    sequencer_enabled: row?.sequencer_enabled ?? true,
    poller_enabled: row?.delivery_enabled ?? true,
  };
}

async function readProjectFusebox(app: AppContext, tenancyId: string) {
  const row = await app.database.db
    .selectFrom("sync_tenancy_pauses")
    .selectAll()
    .where("tenancy_id", "=", tenancyId)
    .executeTakeFirst();
  return { ok: true, sequencer_enabled: !row?.sequencer_paused, delivery_enabled: !row?.delivery_paused };
}

export const dbSyncRoutes = [
  defineRoute({
    method: "GET",
    path: "/internal/external-db-sync/status",
    summary: "Backlog, lag and errors of this project's sync into external databases",
    hidden: true,
    tags,
    access: ["admin"],
    schemas: { query: statusQuery },
    handler: async ({ app, auth, query }) => {
      const tenancy = { id: auth.tenancy.id, projectId: auth.project.id, branchId: auth.tenancy.branchId };
      if (query.scope === "all") {
        // Every tenancy's figures are the operator's business, not a project's.
        requireInternal(auth);
        return json(await globalSyncStatus(app, tenancy));
      }
      return json(await syncStatus(app, tenancy));
    },
  }),
  defineRoute({
    method: "GET",
    path: "/internal/external-db-sync/fusebox",
    summary: "The global switches of the sync pipeline (internal project only)",
    hidden: true,
    tags,
    access: ["admin"],
    schemas: {},
    handler: async ({ app, auth }) => {
      requireInternal(auth);
      return json(await readGlobalFusebox(app));
    },
  }),
  defineRoute({
    method: "POST",
    path: "/internal/external-db-sync/fusebox",
    summary: "Pause or resume sequencing and delivery for every project (internal project only)",
    hidden: true,
    tags,
    access: ["admin"],
    schemas: { body: globalFusebox },
    handler: async ({ app, auth, body }) => {
      requireInternal(auth);
      await app.database.db
        .updateTable("sync_fusebox")
        .set({
          sequencer_enabled: body.sequencer_enabled,
          delivery_enabled: body.poller_enabled,
          updated_at: new Date(),
        })
        .execute();
      // Runs held by the global switch ended without delivering: every project's are queued again.
      await sql`SELECT pg_notify('latchkey_sync_dirty', '')`.execute(app.database.db);
      await enqueueEverySync(app);
      return json(await readGlobalFusebox(app));
    },
  }),
  defineRoute({
    method: "GET",
    path: "/internal/external-db-sync/project-fusebox",
    summary: "This project's sync switches",
    hidden: true,
    tags,
    access: ["admin"],
    schemas: {},
    handler: async ({ app, auth }) => json(await readProjectFusebox(app, auth.tenancy.id)),
  }),
  defineRoute({
    method: "POST",
    path: "/internal/external-db-sync/project-fusebox",
    summary: "Pause or resume sequencing and delivery for this project",
    hidden: true,
    tags,
    access: ["admin"],
    schemas: { body: projectFusebox },
    handler: async ({ app, auth, body }) => {
      await app.database.db
        .insertInto("sync_tenancy_pauses")
        .values({
          tenancy_id: auth.tenancy.id,
          sequencer_paused: !body.sequencer_enabled,
          delivery_paused: !body.delivery_enabled,
        })
        .onConflict((conflict) =>
          conflict.column("tenancy_id").doUpdateSet({
            sequencer_paused: !body.sequencer_enabled,
            delivery_paused: !body.delivery_enabled,
            updated_at: new Date(),
          }),
        )
        .execute();
      await resume(app, auth.tenancy.id);
      return json(await readProjectFusebox(app, auth.tenancy.id));
    },
  }),
];
