import type { RenderedConfig } from "@latchkey/contracts";

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

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
  const host = hostname.toLowerCase();
  if (config.domains.allowLocalhost && (LOCAL_HOSTS.has(host) || host.endsWith(".localhost"))) return true;
  return Object.values(config.domains.trustedDomains).some((domain) => {
    const match = /^https?:\/\/([^/:]+)/i.exec(domain.baseUrl?.trim() ?? "");
    return match !== null && hostPattern(match[1]!).test(host);
  });
}

/** A trusted domain's host, where `*` stands for any run of characters. */
const hostPattern = (host: string) =>
  new RegExp(
    `^${host
      .toLowerCase()
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join("[^/]*")}$`,
  );

function originMatches(pattern: string, url: URL): boolean {
  const match = /^(https?):\/\/([^/]+)/i.exec(pattern.trim());
  if (!match) return false;
  const [, protocol, host] = match;
  if (`${protocol!.toLowerCase()}:` !== url.protocol) return false;
  return hostPattern(host!).test(url.host.toLowerCase());
}
