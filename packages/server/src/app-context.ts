import type { ServerEnv } from "./config/env.ts";
import type { ChangeListener } from "./db/change-listener.ts";
import type { DatabaseHandle } from "./db/database.ts";
import type { ProjectStore } from "./features/projects/store.ts";

/** The long-lived services every route handler can reach through `request.app`. */
export interface AppContext {
  env: ServerEnv;
  database: DatabaseHandle;
  projects: ProjectStore;
  changes: ChangeListener;
  log: (message: string) => void;
}
