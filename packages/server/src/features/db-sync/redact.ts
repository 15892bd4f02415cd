/**
 * A connection string as it may be shown: user, host, port and database, with the password and any
 * query parameters (which can hold keys) replaced. Unparsable strings are hidden entirely.
 */
export function redactConnectionString(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    if (url.password) url.password = "********";
    url.search = url.search ? "?********" : "";
    return url.toString();
  } catch {
    return "********";
  }
}

/**
 * Config as read endpoints return it: every `connectionString` (nested, or as the last part of a dotted
 * override key) redacted. External database credentials are never sent back to anyone.
 */
export function redactConfigSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map(redactConfigSecrets) as T;
  if (value === null || typeof value !== "object") return value;
  const result: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    const isSecret = key === "connectionString" || key.endsWith(".connectionString");
    result[key] =
      isSecret && typeof inner === "string" ? redactConnectionString(inner) : redactConfigSecrets(inner);
  }
  return result as T;
}

/** The parts of a connection string the status endpoint shows. */
export function describeConnection(connectionString: string | undefined) {
  try {
    const url = new URL(connectionString ?? "");
    return {
      redacted: redactConnectionString(connectionString!),
      host: url.hostname || null,
      port: url.port ? Number(url.port) : null,
      database: url.pathname.replace(/^\//, "") || null,
      user: decodeURIComponent(url.username) || null,
    };
  } catch {
    return { redacted: null, host: null, port: null, database: null, user: null };
  }
}
