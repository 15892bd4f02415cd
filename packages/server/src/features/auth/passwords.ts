import { availableParallelism } from "node:os";
import { type Algorithm, hash, verify } from "@node-rs/argon2";
import { compare as bcryptCompare } from "@node-rs/bcrypt";
import pLimit from "p-limit";
import { KnownError, StatusError } from "../../errors/index.ts";

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
const BCRYPT_COST = /^\$2[abxy]?\$(\d{2})\$/;
const ARGON2_PARAMETERS = /^\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=(\d+),t=(\d+),p=(\d+)\$/;

/**
 * The costliest imported hashes this server verifies. Every sign-in attempt against an imported hash runs
 * its parameters, in one of the few hashing slots all sign-ins share: a hash imported with a cost of
 * hours would let anyone who knows the address stall every sign-in on the server. These bounds sit well
 * above what password hashing libraries use (a few seconds at most).
 */
const MAX_IMPORTED_COST = {
  argon2MemoryKiB: 262_144,
  argon2Passes: 10,
  argon2Lanes: 16,
  bcryptCost: 15,
} as const;

/**
 * Refuses a hash a user may not be imported with: only argon2 and bcrypt in Modular Crypt Format, with
 * parameters this server can afford to verify on every sign-in attempt (text 400).
 */
export function assertImportablePasswordHash(passwordHash: string): void {
  const argon2 = ARGON2_PARAMETERS.exec(passwordHash);
  const bcrypt = BCRYPT_COST.exec(passwordHash);
  if (!argon2 && !bcrypt) {
    throw new StatusError(
      400,
      "Invalid password hash: only bcrypt and argon2 hashes in Modular Crypt Format are supported.",
    );
  }
  const max = MAX_IMPORTED_COST;
  const tooCostly = argon2
    ? Number(argon2[1]) > max.argon2MemoryKiB ||
      Number(argon2[2]) > max.argon2Passes ||
      Number(argon2[3]) > max.argon2Lanes
    : Number(bcrypt?.[1]) > max.bcryptCost;
  if (tooCostly) {
    throw new StatusError(
      400,
      `Invalid password hash: its cost is above what this server verifies (argon2 at most m=${max.argon2MemoryKiB}, t=${max.argon2Passes}, p=${max.argon2Lanes}; bcrypt at most cost ${max.bcryptCost}).`,
    );
  }
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
