import { isIP } from "node:net";
import type { FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";

/** Where a request came from, as recorded on sessions and `$token-refresh` events. */
export interface EndUserOrigin {
  ip: string | null;
  /** Geo a CDN or edge proxy put in front of Latchkey added (Cloudflare, Vercel); absent otherwise. */
  geo: { country_code?: string; region_code?: string; city_name?: string } | null;
  /** False when the geo could have been written by the client itself (no proxy declared trusted). */
  geoTrusted: boolean;
}

/**
 * The request's origin. The IP is the socket's (or a trusted proxy's `X-Forwarded-For`); geo comes
 * from the headers CDNs add — `CF-IPCountry`, `X-Vercel-IP-Country`, `-Country-Region`, `-City`.
 * Malformed values are ignored rather than stored.
 */
export function endUserOrigin(app: AppContext, raw: FastifyRequest): EndUserOrigin {
  const header = (name: string) => {
    const value = raw.headers[name];
    return typeof value === "string" && value.length > 0 ? value : undefined;
  };
  const country = (header("x-vercel-ip-country") ?? header("cf-ipcountry"))?.toUpperCase();
  const region = header("x-vercel-ip-country-region")?.toUpperCase();
  const city = decodeCity(header("x-vercel-ip-city"));
  const geo = {
    ...(country && /^[A-Z]{2}$/.test(country) && country !== "XX" ? { country_code: country } : {}),
    ...(region && /^[A-Z0-9]{1,3}$/.test(region) ? { region_code: region } : {}),
    ...(city ? { city_name: city } : {}),
  };
  return {
    ip: clientIp(raw),
    geo: Object.keys(geo).length > 0 ? geo : null,
    geoTrusted: app.env.trustProxy,
  };
}

/**
 * The client's IP address: the socket's, or with a trusted proxy the one `X-Forwarded-For` names. The
 * client writes the leftmost `X-Forwarded-For` entry itself, so anything there that is not an address
 * falls back to the proxy's own (it keys rate limits and is stored on sessions).
 */
export function clientIp(raw: FastifyRequest): string | null {
  if (raw.ip && isIP(raw.ip) !== 0) return raw.ip;
  return raw.socket.remoteAddress ?? null;
}

function decodeCity(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    const city = decodeURIComponent(value).trim();
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses.
    return city.length > 0 && city.length <= 100 && !/[\u0000-\u001f\u007f]/.test(city) ? city : undefined;
  } catch {
    return undefined;
  }
}

/** The `ip_info` of a `$token-refresh` event. */
export function ipInfoOf(origin: EndUserOrigin) {
  if (!origin.ip) return null;
  // The address comes from the socket (or a proxy the operator declared trusted), never a header.
  return origin.geo
    ? { ip: origin.ip, is_trusted: origin.geoTrusted, ...origin.geo }
    : { ip: origin.ip, is_trusted: true };
}
