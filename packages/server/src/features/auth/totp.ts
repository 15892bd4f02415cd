import { createHmac, timingSafeEqual } from "node:crypto";

const STEP_SECONDS = 30;
const DIGITS = 6;

/** RFC 6238 TOTP (HMAC-SHA1, 30-second steps, 6 digits), the kind every authenticator app speaks. */
export function totpAt(secret: Buffer, unixSeconds: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / STEP_SECONDS)));
  const hmac = createHmac("sha1", secret).update(counter).digest();
  const offset = hmac[hmac.length - 1]! & 0x0f;
  const value = (hmac.readUInt32BE(offset) & 0x7fffffff) % 10 ** DIGITS;
  return value.toString().padStart(DIGITS, "0");
}

/** Accepts the current code and its neighbours, for clocks that drift by up to one step. */
export function verifyTotp(secret: Buffer, code: string, now = Date.now() / 1000): boolean {
  if (code.length !== DIGITS || !/^[0-9]+$/.test(code)) return false;
  const given = Buffer.from(code);
  let ok = false;
  for (const drift of [-1, 0, 1]) {
    const expected = Buffer.from(totpAt(secret, now + drift * STEP_SECONDS));
    if (expected.length === given.length && timingSafeEqual(expected, given)) ok = true;
  }
  return ok;
}
