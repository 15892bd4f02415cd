import type { ChangeListener } from "../../db/change-listener.ts";
import type { DatabaseHandle } from "../../db/database.ts";
import { ReadThroughCache } from "../../db/read-through-cache.ts";
import { loadProjectSnapshot, type ProjectSnapshot } from "./snapshot.ts";

export const PROJECT_CHANGED_CHANNEL = "latchkey_project_changed";

/**
 * The in-memory view of projects that request authentication reads. Triggers on the project tables
 * NOTIFY every process when a project, its keys, branches or config change; the entry is then dropped
 * and the next request reloads it. Unknown project ids are cached too (as null), so probing with
 * random ids does not turn into a query per request.
 */
export class ProjectStore {
  private readonly cache: ReadThroughCache<ProjectSnapshot | null>;

  constructor(database: DatabaseHandle, ttlMs: number, changes: ChangeListener | null) {
    this.cache = new ReadThroughCache(ttlMs, (id) => loadProjectSnapshot(database, id));
    changes?.on(PROJECT_CHANGED_CHANNEL, (projectId) => this.cache.invalidate(projectId));
    changes?.onReset(() => this.cache.clear());
  }

  get(projectId: string): Promise<ProjectSnapshot | null> | ProjectSnapshot | null {
    return this.cache.get(projectId);
  }

  /** Called by writers right after their commit, so their own next read never waits for the NOTIFY. */
  invalidate(projectId: string): void {
    this.cache.invalidate(projectId);
  }
}
