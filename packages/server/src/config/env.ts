import { existsSync } from "node:fs";
import path from "node:path";

/**
 * Process-level settings, read once from the environment. Everything has an embedded default so that
 * `npm start` on a fresh machine needs no configuration at all.
 */
export interface ServerEnv {
  /** `development` (default), `test` or `production`. Guards destructive commands such as `db reset`. */
  nodeEnv: "development" | "test" | "production";
  port: number;
  host: string;
  /** Where embedded PostgreSQL (and later the analytics engine) keep their data. */
  dataDir: string;
  /** External PostgreSQL; when set, nothing embedded starts. */
  databaseUrl: string | null;
  embeddedPostgresPort: number;
  /** The URL clients reach this server at; used in token issuers and e-mailed links. */
  publicUrl: string;
  /** Seconds a cached project/key/config entry may be served without a database round trip. */
  projectCacheTtlSeconds: number;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** Log every request (off by default: a log line per request costs more than the request itself). */
  logRequests: boolean;
  /**
   * Trust `X-Forwarded-For` from a reverse proxy for the client IP. Off by default: without a proxy in
   * front, anyone could claim any IP (and dodge per-IP rate limits).
   */
  trustProxy: boolean;
  /** Lifetime of access tokens (JWTs). */
  accessTokenTtlSeconds: number;
  /** SMTP server for outgoing e-mail (`smtp://user:pass@host:port`); unset = e-mails are only logged. */
  smtpUrl: string | null;
  emailFrom: string;
  /**
   * Secret key of a Cloudflare Turnstile widget: sign-ups carrying a `bot_challenge_token` are checked
   * with it. Unset = no bot challenge (every sign-up passes it, as with upstream's switch to disable it).
   */
  turnstileSecretKey: string | null;
  /** Where Turnstile tokens are verified (Cloudflare's `siteverify` unless pointed elsewhere). */
  turnstileSiteverifyUrl: string;
  /**
   * Prepare the hot statements once per connection (default). `LATCHKEY_PREPARED_STATEMENTS=false`
   * for a pooler in transaction mode that cannot keep them (PgBouncer before 1.21).
   */
  preparedStatements: boolean;
  /** Connections to PostgreSQL this process keeps at most. */
  databasePoolSize: number;
  /** How long a query waits for a free connection before its request answers 503. */
  databasePoolWaitMs: number;
  /** Sign-in attempts allowed per e-mail and per IP in any `signInRateLimitWindowSeconds`-long stretch. */
  signInRateLimit: number;
  signInRateLimitWindowSeconds: number;
  /** A ClickHouse server for analytics (`http://user:pass@host:8123/db`); unset = embedded chDB. */
  clickhouseUrl: string | null;
  /** Where embedded chDB keeps analytics data (default `<dataDir>/analytics`). */
  analyticsDir: string;
  /**
   * Run the db-sync sequencer and job worker in this process (default). `LATCHKEY_SYNC_WORKER=false`
   * makes an API-only process, for scaling API and workers separately.
   */
  runSyncWorker: boolean;
  /**
   * Fail any query that takes a pooled connection inside a transaction body, a pool deadlock waiting
   * for load (`LATCHKEY_CHECK_TRANSACTIONS`; on under `NODE_ENV=test`, off otherwise for its cost).
   */
  checkTransactions: boolean;
}

export function readServerEnv(env: NodeJS.ProcessEnv = process.env): ServerEnv {
  const nodeEnv = env.NODE_ENV === "production" || env.NODE_ENV === "test" ? env.NODE_ENV : "development";
  const port = integer(env, "PORT", 8102);
  const dataDir = resolveDataDir(env);
  return {
    nodeEnv,
    port,
    host: env.HOST ?? "0.0.0.0",
    dataDir,
    databaseUrl: env.DATABASE_URL?.trim() || null,
    embeddedPostgresPort: integer(env, "LATCHKEY_EMBEDDED_POSTGRES_PORT", 8132),
    publicUrl: (env.LATCHKEY_PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/+$/, ""),
    projectCacheTtlSeconds: integer(env, "LATCHKEY_PROJECT_CACHE_TTL_SECONDS", 30),
    bodyLimitBytes: integer(env, "LATCHKEY_BODY_LIMIT_BYTES", 5 * 1024 * 1024),
    logRequests: env.LATCHKEY_LOG_REQUESTS === "true",
    trustProxy: env.LATCHKEY_TRUST_PROXY === "true",
    accessTokenTtlSeconds: integer(env, "LATCHKEY_ACCESS_TOKEN_TTL_SECONDS", 600),
    smtpUrl: env.LATCHKEY_SMTP_URL?.trim() || null,
    emailFrom: env.LATCHKEY_EMAIL_FROM ?? "Latchkey <noreply@latchkey.local>",
    turnstileSecretKey: env.LATCHKEY_TURNSTILE_SECRET_KEY?.trim() || null,
    turnstileSiteverifyUrl:
      env.LATCHKEY_TURNSTILE_SITEVERIFY_URL?.trim() ||
      "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    preparedStatements: env.LATCHKEY_PREPARED_STATEMENTS !== "false",
    databasePoolSize: Math.max(1, integer(env, "LATCHKEY_DATABASE_POOL_SIZE", 20)),
    // pg-pool reads 0 as "wait for ever": the bound this setting exists for.
    databasePoolWaitMs: Math.max(1, integer(env, "LATCHKEY_DATABASE_POOL_WAIT_MS", 30_000)),
    signInRateLimit: integer(env, "LATCHKEY_SIGN_IN_RATE_LIMIT", 10),
    signInRateLimitWindowSeconds: integer(env, "LATCHKEY_SIGN_IN_RATE_LIMIT_WINDOW_SECONDS", 60),
    clickhouseUrl: env.CLICKHOUSE_URL?.trim() || null,
    analyticsDir: env.LATCHKEY_ANALYTICS_DIR
      ? path.resolve(invocationDir(env), env.LATCHKEY_ANALYTICS_DIR)
      : path.join(dataDir, "analytics"),
    runSyncWorker: env.LATCHKEY_SYNC_WORKER !== "false",
    checkTransactions: env.LATCHKEY_CHECK_TRANSACTIONS
      ? env.LATCHKEY_CHECK_TRANSACTIONS === "true"
      : nodeEnv === "test",
  };
}

/**
 * The folder relative paths are taken from: the one the command was typed in. npm runs a workspace's
 * scripts (`npm start`) from the package's own folder, but records the caller's in INIT_CWD, so that
 * `npm start` and `npx latchkey …` typed in the repository root find the same data.
 */
function invocationDir(env: NodeJS.ProcessEnv, cwd = process.cwd()): string {
  return env.INIT_CWD || cwd;
}

/** `LATCHKEY_DATA_DIR`, or `.latchkey` in the folder the command was typed in. */
export function resolveDataDir(env: NodeJS.ProcessEnv, cwd = process.cwd()): string {
  const base = invocationDir(env, cwd);
  const configured = env.LATCHKEY_DATA_DIR || ".latchkey";
  const dataDir = path.resolve(base, configured);
  if (path.isAbsolute(configured) || existsSync(dataDir)) return dataDir;
  // Earlier releases took a relative path from the current folder, which under `npm start` is the
  // server package's: data already there stays in use rather than looking lost behind a fresh
  // database — whether this command runs there or in the repository root.
  const earlier = [path.resolve(cwd, configured), path.resolve(base, "packages", "server", configured)];
  return earlier.find((folder) => folder !== dataDir && existsSync(folder)) ?? dataDir;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`Environment variable ${name} must be a non-negative integer, got "${raw}".`);
  }
  return value;
}
