/**
 * How the browser parts of @latchkey/js talk to the server: Stack Auth's headers, a session taken from
 * the app, and retries that never throw into the page.
 */
export interface ConnectionOptions {
  /** The server, e.g. `https://auth.example.com` (the API lives under `/api/v1`). */
  baseUrl: string;
  projectId: string;
  /** Only for projects that require one. */
  publishableClientKey?: string;
  /**
   * The signed-in (or anonymous) user's access token, from the app's auth client. Called before every
   * send with `forceRefresh` true after the server refused an expired token. Null: nobody is signed in,
   * and events wait (bounded) until someone is — the tracker never signs anyone up by itself.
   */
  getAccessToken: (options: { forceRefresh: boolean }) => Promise<string | null> | string | null;
}

export type SendOutcome = "sent" | "rejected" | "unavailable" | "no-session";

export interface SendOptions {
  /** For sends while the page is going away: the browser finishes them after unload. */
  keepalive?: boolean;
}

const RETRYABLE = (status: number) => status === 429 || status >= 500;

/** One POST with the Stack headers. Never throws: network failures come back as `unavailable`. */
export async function postJson(
  connection: ConnectionOptions,
  path: string,
  body: string,
  options: SendOptions = {},
): Promise<{ outcome: SendOutcome; retryAfterMs: number | null }> {
  for (const forceRefresh of [false, true]) {
    let token: string | null;
    try {
      token = await connection.getAccessToken({ forceRefresh });
    } catch {
      token = null;
    }
    if (!token) return { outcome: "no-session", retryAfterMs: null };
    let response: Response;
    try {
      response = await fetch(`${connection.baseUrl.replace(/\/+$/, "")}/api/v1${path}`, {
        method: "POST",
        keepalive: options.keepalive === true,
        headers: {
          "content-type": "application/json",
          "x-stack-project-id": connection.projectId,
          "x-stack-access-type": "client",
          "x-stack-access-token": token,
          "x-stack-allow-anonymous-user": "true",
          ...(connection.publishableClientKey
            ? { "x-stack-publishable-client-key": connection.publishableClientKey }
            : {}),
        },
        body,
      });
    } catch {
      return { outcome: "unavailable", retryAfterMs: null };
    }
    if (response.ok) return { outcome: "sent", retryAfterMs: null };
    if (
      response.status === 401 &&
      !forceRefresh &&
      response.headers.get("x-stack-known-error") === "ACCESS_TOKEN_EXPIRED"
    ) {
      continue;
    }
    if (RETRYABLE(response.status)) {
      const retryAfter = Number(response.headers.get("retry-after"));
      return {
        outcome: "unavailable",
        retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : null,
      };
    }
    console.warn(
      `[latchkey] ${path} refused a batch: ${response.status} ${await response.text().catch(() => "")}`,
    );
    return { outcome: "rejected", retryAfterMs: null };
  }
  return { outcome: "rejected", retryAfterMs: null };
}

/** A random UUID v4, with a fallback for insecure contexts where `crypto.randomUUID` is missing. */
export function uuid(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
