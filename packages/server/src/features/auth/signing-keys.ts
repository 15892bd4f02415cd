import {
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { sql } from "kysely";
import type { DatabaseHandle } from "../../db/database.ts";

/** Which kind of user a token is for; each has its own audience, issuer and key. */
export type TokenAudience = "user" | "restricted" | "anonymous";

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: { kty: "EC"; crv: "P-256"; alg: "ES256"; use: "sig"; kid: string; x: string; y: string };
}

// Order of the P-256 group: private scalars must lie in [1, n-1].
const P256_ORDER = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
const ROOT_SECRET_NAME = "token-signing-root";
const PREVIOUS_ROOT_SECRET_NAME = "token-signing-root-previous";
/** However many tokens with unknown key ids arrive, the roots are read again at most this often. */
const UNKNOWN_KID_RELOAD_INTERVAL_MS = 10_000;
/**
 * Derived keys kept per process. Tokens are verified before their project is looked up (the contract's
 * order of errors), so forged tokens naming made-up projects derive keys too: without a bound, anyone
 * could fill the memory. The least recently used key goes first; deriving it again costs well under a
 * millisecond.
 */
const DEFAULT_MAX_CACHED_KEYS = 10_000;

/**
 * Per-project ES256 keys, derived (HKDF) from a random root secret kept in the database. Deriving
 * rather than storing means every API process computes the same keys from the root alone, a project
 * needs no key rows, and rotating the root rotates everything. Keys are derived once per process and
 * kept in memory, so issuing and verifying tokens never touches the database.
 *
 * Rotation (`latchkey keys rotate`) keeps the previous root: its keys are still published and accepted,
 * so tokens issued before stay valid until the rotation after. Every process reads the roots again once
 * a minute (the server's timer) and when a token names a key it does not know (throttled), so it signs
 * with the new root within a minute and accepts the new root's tokens at once.
 */
export class SigningKeys {
  private readonly keys = new Map<string, SigningKey>();
  private lastUnknownKidReloadMs = 0;

  private constructor(
    private readonly database: DatabaseHandle,
    /** The current root first, then the previous one if there is one. */
    private roots: Buffer[],
    private readonly maxCachedKeys: number,
  ) {}

  static async load(
    database: DatabaseHandle,
    { maxCachedKeys = DEFAULT_MAX_CACHED_KEYS }: { maxCachedKeys?: number } = {},
  ): Promise<SigningKeys> {
    await sql`INSERT INTO server_secrets (name, value) VALUES (${ROOT_SECRET_NAME}, ${randomBytes(32)})
              ON CONFLICT (name) DO NOTHING`.execute(database.db);
    return new SigningKeys(database, await readRoots(database), maxCachedKeys);
  }

  /** How many derived keys this process holds (bounded by `maxCachedKeys`). */
  get cachedKeyCount(): number {
    return this.keys.size;
  }

  /** Reads the roots again (after a rotation by another process). */
  async reload(): Promise<void> {
    this.roots = await readRoots(this.database);
  }

  /** The key that signs new tokens. */
  get(projectId: string, audience: TokenAudience): SigningKey {
    return this.derived(this.roots[0]!, projectId, audience);
  }

  /** The keys the JWKS publishes: the signing key first, then the previous root's, still accepted. */
  published(projectId: string, audience: TokenAudience): SigningKey[] {
    return this.roots.map((root) => this.derived(root, projectId, audience));
  }

  /** The accepted key a token names, or null: an unknown id reads the roots again (throttled) first. */
  async verifying(projectId: string, audience: TokenAudience, kid: string): Promise<SigningKey | null> {
    const find = () => this.published(projectId, audience).find((key) => key.kid === kid) ?? null;
    const known = find();
    if (known || Date.now() - this.lastUnknownKidReloadMs < UNKNOWN_KID_RELOAD_INTERVAL_MS) return known;
    this.lastUnknownKidReloadMs = Date.now();
    await this.reload();
    return find();
  }

  private derived(root: Buffer, projectId: string, audience: TokenAudience): SigningKey {
    const cacheKey = `${root.toString("hex")}\u0000${projectId}\u0000${audience}`;
    let key = this.keys.get(cacheKey);
    if (key) {
      // Re-inserted, so the map's order is least recently used first.
      this.keys.delete(cacheKey);
    } else {
      key = derive(root, projectId, audience);
      if (this.keys.size >= this.maxCachedKeys) this.keys.delete(this.keys.keys().next().value!);
    }
    this.keys.set(cacheKey, key);
    return key;
  }
}

/**
 * Replaces the token-signing root with a new random one and keeps the replaced one as the previous
 * root (the one before is dropped: tokens it signed stop verifying).
 */
export async function rotateSigningRoot(database: DatabaseHandle): Promise<void> {
  await database.db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom("server_secrets")
      .select("value")
      .where("name", "=", ROOT_SECRET_NAME)
      .forUpdate()
      .executeTakeFirstOrThrow();
    await sql`INSERT INTO server_secrets (name, value) VALUES (${PREVIOUS_ROOT_SECRET_NAME}, ${current.value})
              ON CONFLICT (name) DO UPDATE SET value = excluded.value, created_at = now()`.execute(trx);
    await trx
      .updateTable("server_secrets")
      .set({ value: randomBytes(32), created_at: new Date() })
      .where("name", "=", ROOT_SECRET_NAME)
      .execute();
  });
}

async function readRoots(database: DatabaseHandle): Promise<Buffer[]> {
  const rows = await database.db
    .selectFrom("server_secrets")
    .select(["name", "value"])
    .where("name", "in", [ROOT_SECRET_NAME, PREVIOUS_ROOT_SECRET_NAME])
    .execute();
  const value = (name: string) => rows.find((row) => row.name === name)?.value;
  const current = value(ROOT_SECRET_NAME);
  if (!current) throw new Error("The token-signing root secret is missing");
  const previous = value(PREVIOUS_ROOT_SECRET_NAME);
  return previous ? [current, previous] : [current];
}

function derive(root: Buffer, projectId: string, audience: TokenAudience): SigningKey {
  const material = Buffer.from(hkdfSync("sha256", root, "latchkey-es256-v1", `${projectId}:${audience}`, 48));
  const scalar = (BigInt(`0x${material.toString("hex")}`) % (P256_ORDER - 1n)) + 1n;
  const d = Buffer.from(scalar.toString(16).padStart(64, "0"), "hex");
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey();
  const x = point.subarray(1, 33).toString("base64url");
  const y = point.subarray(33, 65).toString("base64url");
  const kid = createHash("sha256").update(point).digest("base64url").slice(0, 16);
  const privateKey = createPrivateKey({
    key: { kty: "EC", crv: "P-256", x, y, d: d.toString("base64url") },
    format: "jwk",
  });
  return {
    kid,
    privateKey,
    publicKey: createPublicKey(privateKey),
    publicJwk: { kty: "EC", crv: "P-256", alg: "ES256", use: "sig", kid, x, y },
  };
}
