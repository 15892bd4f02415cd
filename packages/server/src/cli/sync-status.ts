import type { AppContext } from "../app-context.ts";
import { openDatabase } from "../db/database.ts";
import { syncingTenancies } from "../features/db-sync/queue.ts";
import { syncStatus } from "../features/db-sync/status.ts";
import { ProjectStore } from "../features/projects/index.ts";

/**
 * `latchkey sync status`: the status endpoint's figures for every project syncing into external
 * databases, as a table — one line per (project, database, mapping).
 */
export async function printSyncStatus(connectionString: string): Promise<number> {
  const database = openDatabase(connectionString);
  try {
    // Status needs only the database and project configs; no HTTP server, no listener.
    const app = {
      database,
      projects: new ProjectStore(database, 0, null),
      log: () => {},
    } as unknown as AppContext;
    const fusebox = await database.db.selectFrom("sync_fusebox").selectAll().executeTakeFirst();
    console.log(
      `Pipeline: sequencer ${fusebox?.sequencer_enabled === false ? "PAUSED" : "on"}, delivery ${fusebox?.delivery_enabled === false ? "PAUSED" : "on"}`,
    );
    const tenancies = await syncingTenancies(database.db);
    const lines: string[][] = [
      ["project", "branch", "database", "status", "mapping", "cursor", "backlog", "lag ms", "last error"],
    ];
    for (const tenancy of tenancies) {
      const status = await syncStatus(app, {
        id: tenancy.id,
        projectId: tenancy.project_id,
        branchId: tenancy.branch_id,
      });
      for (const target of status.sync_engine.external_databases) {
        const mappingRows = target.mapping_status as {
          mapping_id: string;
          last_synced_sequence_id: string | null;
          backlog_rows: string | null;
          lag_ms: number;
        }[];
        for (const mapping of mappingRows.length > 0 ? mappingRows : [null]) {
          lines.push([
            tenancy.project_id,
            tenancy.branch_id,
            target.id,
            target.status,
            mapping?.mapping_id ?? "-",
            mapping?.last_synced_sequence_id ?? "-",
            mapping?.backlog_rows ?? "-",
            mapping ? String(mapping.lag_ms) : "-",
            (target.last_error ?? target.error ?? "").slice(0, 60),
          ]);
        }
      }
    }
    if (lines.length === 1) {
      console.log("No project syncs into an external database.");
      return 0;
    }
    const widths = lines[0]!.map((_, column) => Math.max(...lines.map((line) => line[column]!.length)));
    for (const line of lines)
      console.log(
        line
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join("  ")
          .trimEnd(),
      );
    return 0;
  } finally {
    await database.close();
  }
}
