import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { randomSecret } from "../projects/keys.ts";

export type ApiKeyType = "user" | "team";

const MARKER = "574ck4u7h";
const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

/**
 * `<pk|sk>_` + 45 random characters + the key id (32 hex) + `user|team` + a flag character (1 for a
 * self-hosted install, +2 when public) + a fixed marker + CRC32 of all of it — the format secret
 * scanners recognise. Only a SHA-256 digest of the whole key is stored.
 */
export function generateApiKey(id: string, type: ApiKeyType, isPublic: boolean): string {
  const flags = CROCKFORD[1 + (isPublic ? 2 : 0)];
  const body = `${isPublic ? "pk" : "sk"}_${randomSecret()}${id.replace(/-/g, "")}${type}${flags}${MARKER}`;
  return body + crc32(body).toString(16).padStart(8, "0");
}

export const digestApiKey = (key: string) => createHash("sha256").update(key).digest();
