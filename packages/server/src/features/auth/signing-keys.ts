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

/**
 * Per-project ES256 keys, derived (HKDF) from one random root secret kept in the database. Deriving
 * rather than storing means every API process computes the same keys from the root alone, a project
 * needs no key rows, and rotating the root rotates everything. Keys are derived once per process and
 * kept in memory, so issuing and verifying tokens never touches the database.
 */
export class SigningKeys {
  private readonly keys = new Map<string, SigningKey>();

  private constructor(private readonly root: Buffer) {}

  static async load(database: DatabaseHandle): Promise<SigningKeys> {
    await sql`INSERT INTO server_secrets (name, value) VALUES (${ROOT_SECRET_NAME}, ${randomBytes(32)})
              ON CONFLICT (name) DO NOTHING`.execute(database.db);
    const row = await database.db
      .selectFrom("server_secrets")
      .select("value")
      .where("name", "=", ROOT_SECRET_NAME)
      .executeTakeFirstOrThrow();
    return new SigningKeys(row.value);
  }

  get(projectId: string, audience: TokenAudience): SigningKey {
    const cacheKey = `${projectId}\u0000${audience}`;
    let key = this.keys.get(cacheKey);
    if (!key) {
      key = this.derive(projectId, audience);
      this.keys.set(cacheKey, key);
    }
    return key;
  }

  private derive(projectId: string, audience: TokenAudience): SigningKey {
    const material = Buffer.from(
      hkdfSync("sha256", this.root, "latchkey-es256-v1", `${projectId}:${audience}`, 48),
    );
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
}
