import type { AnalyticsStore } from "./analytics-store/index.ts";
import type { PersistentCache } from "./cache/index.ts";
import type { ServerEnv } from "./config/env.ts";
import type { ChangeListener } from "./db/change-listener.ts";
import type { DatabaseHandle } from "./db/database.ts";
import type { SigningKeys } from "./features/auth/signing-keys.ts";
import type { AccessTokens } from "./features/auth/tokens.ts";
import type { ProjectStore } from "./features/projects/store.ts";

/** The long-lived services every route handler can reach through `request.app`. */
export interface AppContext {
  env: ServerEnv;
  database: DatabaseHandle;
  analytics: AnalyticsStore;
  /** Computed values shared by every process (dashboard metrics), in PostgreSQL. */
  cache: PersistentCache;
  projects: ProjectStore;
  tokens: AccessTokens;
  signingKeys: SigningKeys;
  changes: ChangeListener;
  log: (message: string) => void;
}
