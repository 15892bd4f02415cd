import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const CROCKFORD_BASE32 = "0123456789abcdefghjkmnpqrstvwxyz";

/** 45 lowercase Crockford base32 characters: 225 random bits. */
export function randomSecret(length = 45): string {
  const bytes = randomBytes(length);
  let out = "";
  for (let i = 0; i < length; i++) out += CROCKFORD_BASE32[bytes[i]! & 31];
  return out;
}

export type KeyKind = "publishable_client_key" | "secret_server_key" | "super_secret_admin_key";

export const keyPrefix: Record<KeyKind, string> = {
  publishable_client_key: "pck_",
  secret_server_key: "ssk_",
  super_secret_admin_key: "sak_",
};

export const generateProjectKey = (kind: KeyKind) => keyPrefix[kind] + randomSecret();

/** Only this digest is stored; the key itself is shown once, when it is created. */
export const digestKey = (key: string): Buffer => createHash("sha256").update(key).digest();

export const lastFour = (key: string) => key.slice(-4);

export function digestsEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
