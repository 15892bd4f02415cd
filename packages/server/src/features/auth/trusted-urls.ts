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

function originMatches(pattern: string, url: URL): boolean {
  const match = /^(https?):\/\/([^/]+)/i.exec(pattern.trim());
  if (!match) return false;
  const [, protocol, host] = match;
  if (`${protocol!.toLowerCase()}:` !== url.protocol) return false;
  const hostPattern = new RegExp(
    `^${host!
      .toLowerCase()
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join("[^/]*")}$`,
  );
  return hostPattern.test(url.host.toLowerCase());
}
