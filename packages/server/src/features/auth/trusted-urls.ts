import type { RenderedConfig } from "@latchkey/contracts";

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);
/** The longest host name DNS allows; anything longer is refused before any pattern sees it. */
const MAX_HOST_LENGTH = 253;

/**
 * Whether a callback URL points at one of the project's trusted domains (`*` matches any run of
 * characters in the host), or at localhost when the project allows it. Only the origin counts.
 */
export function isTrustedUrl(config: RenderedConfig, candidate: string): boolean {
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  if (url.hostname.length > MAX_HOST_LENGTH) return false;
  if (config.domains.allowLocalhost && (LOCAL_HOSTS.has(url.hostname) || url.hostname.endsWith(".localhost")))
    return true;
  return Object.values(config.domains.trustedDomains).some(
    (domain) => domain.baseUrl && originMatches(domain.baseUrl, url),
  );
}

/**
 * Whether a bare host name (no scheme, no port — as Turnstile reports where a challenge was solved)
 * belongs to one of the project's trusted domains, or is local when the project allows localhost.
 */
export function isTrustedHostname(config: RenderedConfig, hostname: string): boolean {
  if (hostname.length > MAX_HOST_LENGTH) return false;
  const host = hostname.toLowerCase();
  if (config.domains.allowLocalhost && (LOCAL_HOSTS.has(host) || host.endsWith(".localhost"))) return true;
  return Object.values(config.domains.trustedDomains).some((domain) => {
    const match = /^https?:\/\/([^/:]+)/i.exec(domain.baseUrl?.trim() ?? "");
    return match !== null && hostMatches(match[1]!, host);
  });
}

/**
 * Whether `host` matches a trusted domain's host, where `*` stands for any run of characters but `/`.
 * Matched without a regex: a backtracking one takes quadratic time (or worse) on a long host against a
 * pattern with several `*`.
 */
function hostMatches(pattern: string, host: string): boolean {
  const parts = pattern.toLowerCase().split("*");
  if (parts.length === 1) return host === parts[0];
  // Patterns never contain `/`, so neither a literal part nor a `*` could match one.
  if (host.includes("/")) return false;
  const first = parts[0]!;
  const last = parts.at(-1)!;
  if (host.length < first.length + last.length || !host.startsWith(first) || !host.endsWith(last))
    return false;
  // Each middle part taken at its earliest place leaves the most room for the ones after it.
  let at = first.length;
  const end = host.length - last.length;
  for (const part of parts.slice(1, -1)) {
    const found = host.indexOf(part, at);
    if (found === -1 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

function originMatches(pattern: string, url: URL): boolean {
  const match = /^(https?):\/\/([^/]+)/i.exec(pattern.trim());
  if (!match) return false;
  const [, protocol, host] = match;
  if (`${protocol!.toLowerCase()}:` !== url.protocol) return false;
  return hostMatches(host!, url.host.toLowerCase());
}
