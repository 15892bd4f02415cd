import type { IncomingHttpHeaders } from "node:http";

/**
 * Stack Auth's SDK up to 2.8.102 sends `x-stack-*` headers; 2.8.108 and later send the same headers
 * spelled `x-hexclave-*`. Both are accepted, identically; the `x-stack-` spelling wins if both come.
 */
export function stackHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  // An empty header is no header, as upstream reads them: the SDK sends empty key headers when it has
  // no key (a server app signed in through the dashboard) and expects the "required" error.
  const present = (value: string | string[] | undefined) =>
    (Array.isArray(value) ? value[0] : value) || undefined;
  return present(headers[`x-stack-${name}`]) ?? present(headers[`x-hexclave-${name}`]);
}

/** Whether the header came in either spelling, even empty (which {@link stackHeader} reads as absent). */
export function stackHeaderSent(headers: IncomingHttpHeaders, name: string): boolean {
  return headers[`x-stack-${name}`] !== undefined || headers[`x-hexclave-${name}`] !== undefined;
}

const requestHeaderNames = [
  "project-id",
  "branch-id",
  "access-type",
  "publishable-client-key",
  "secret-server-key",
  "super-secret-admin-key",
  "admin-access-token",
  "access-token",
  "refresh-token",
  "allow-anonymous-user",
  "allow-restricted-user",
  "override-error-status",
  "client-version",
  "random-nonce",
  "development-override-key",
];

export const corsHeaders: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
  "access-control-allow-headers": [
    "content-type",
    "authorization",
    "ngrok-skip-browser-warning",
    ...requestHeaderNames.flatMap((n) => [`x-stack-${n}`, `x-hexclave-${n}`]),
  ].join(", "),
  "access-control-expose-headers": [
    "content-type",
    "x-stack-known-error",
    "x-stack-actual-status",
    "x-stack-request-id",
    "x-hexclave-known-error",
    "x-hexclave-actual-status",
    "x-hexclave-request-id",
    // Browsers may read it only when exposed; trackers back off as long as it asks.
    "retry-after",
  ].join(", "),
  "access-control-max-age": "86400",
};

/** Headers every `/api` answer carries. */
export const apiResponseHeaders: Record<string, string> = {
  ...corsHeaders,
  "cache-control": "no-store, max-age=0",
};
