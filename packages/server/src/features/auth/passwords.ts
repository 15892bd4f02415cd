import { availableParallelism } from "node:os";
import { type Algorithm, hash, verify } from "@node-rs/argon2";
import { compare as bcryptCompare } from "@node-rs/bcrypt";
import pLimit from "p-limit";
import { KnownError } from "../../errors/index.ts";

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 70;

/** argon2id with OWASP's recommended minimum (19 MiB, 2 passes): a sign-in is bounded by this. */
// `Algorithm` is a const enum the package does not export at run time; 2 is its Argon2id.
const ARGON2ID = 2 as Algorithm;
export const ARGON2_OPTIONS = {
  algorithm: ARGON2ID,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

/**
 * Password hashing runs one job per core; the rest wait here. Left to itself every hash takes one of
 * libuv's four threads, so a burst of sign-ins leaves no thread for file, DNS or zlib work (mail
 * delivery, static files) until it is over — and on a 2-core machine four 19 MiB hashes at once verify
 * more slowly than two (the auth bench measures both).
 */
export const hashingSlots = pLimit(availableParallelism());

export function assertPasswordRules(password: string): void {
  if (password.length < PASSWORD_MIN_LENGTH) throw new KnownError("PASSWORD_TOO_SHORT", PASSWORD_MIN_LENGTH);
  if (password.length > PASSWORD_MAX_LENGTH) throw new KnownError("PASSWORD_TOO_LONG", PASSWORD_MAX_LENGTH);
}

export const hashPassword = (password: string) => hashingSlots(() => hash(password, ARGON2_OPTIONS));

const BCRYPT_PREFIX = /^\$2[abxy]?\$\d{2}\$/;

/** Hashes users may be imported with (Modular Crypt Format): argon2 and bcrypt. */
export function isSupportedPasswordHash(passwordHash: string): boolean {
  return passwordHash.startsWith("$argon2") || BCRYPT_PREFIX.test(passwordHash);
}

/**
 * Checks a password against a stored hash. Imported bcrypt hashes verify too and report
 * `needsRehash`, so the caller upgrades them to argon2id on that sign-in.
 */
export async function verifyPassword(
  passwordHash: string,
  password: string,
): Promise<{ ok: boolean; needsRehash: boolean }> {
  try {
    if (passwordHash.startsWith("$argon2"))
      return { ok: await hashingSlots(() => verify(passwordHash, password)), needsRehash: false };
    if (BCRYPT_PREFIX.test(passwordHash)) {
      const ok = await hashingSlots(() => bcryptCompare(password, passwordHash.replace(/^\$2y\$/, "$2b$")));
      return { ok, needsRehash: ok };
    }
  } catch {
    // A malformed stored hash never matches.
  }
  return { ok: false, needsRehash: false };
}

let dummyHash: Promise<string> | null = null;

/**
 * Burns the same time as a real verification, so an unknown e-mail and a wrong password take equally
 * long and timing does not reveal which accounts exist.
 */
export async function verifyAgainstDummy(password: string): Promise<void> {
  dummyHash ??= hashPassword("dummy password that matches nothing");
  const dummy = await dummyHash;
  await hashingSlots(() => verify(dummy, password)).catch(() => false);
}
