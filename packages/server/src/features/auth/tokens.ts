import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { KnownError } from "../../errors/index.ts";
import type { SigningKeys, TokenAudience } from "./signing-keys.ts";

/** The claim set of an access token. The official SDK validates exactly these claims. */
export interface AccessTokenClaims {
  sub: string;
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  project_id: string;
  branch_id: string;
  refresh_token_id: string;
  role: "authenticated";
  name: string | null;
  email: string | null;
  email_verified: boolean;
  selected_team_id: string | null;
  /** Seconds, unlike every other timestamp of the API. */
  signed_up_at: number;
  is_anonymous: boolean;
  is_restricted: boolean;
  restricted_reason: { type: string } | null;
  requires_totp_mfa: boolean;
}

export type TokenUserClaims = Pick<
  AccessTokenClaims,
  | "sub"
  | "name"
  | "email"
  | "email_verified"
  | "selected_team_id"
  | "signed_up_at"
  | "is_anonymous"
  | "is_restricted"
  | "restricted_reason"
  | "requires_totp_mfa"
>;

/** Project ids are UUIDs (or `internal`): a token naming a longer one is forged. */
const MAX_PROJECT_ID_BYTES = 128;

const audienceSuffix: Record<TokenAudience, string> = {
  user: "",
  restricted: ":restricted",
  anonymous: ":anon",
};
const issuerPath: Record<TokenAudience, string> = {
  user: "projects",
  restricted: "projects-restricted-users",
  anonymous: "projects-anonymous-users",
};

export const audienceKind = (
  claims: Pick<TokenUserClaims, "is_anonymous" | "is_restricted">,
): TokenAudience => (claims.is_anonymous ? "anonymous" : claims.is_restricted ? "restricted" : "user");

export const issuerFor = (publicUrl: string, projectId: string, kind: TokenAudience) =>
  `${publicUrl}/api/v1/${issuerPath[kind]}/${projectId}`;

export class AccessTokens {
  constructor(
    private readonly keys: SigningKeys,
    private readonly publicUrl: string,
    private readonly lifetimeSeconds: number,
  ) {}

  async issue(input: {
    projectId: string;
    branchId: string;
    sessionId: string;
    user: TokenUserClaims;
  }): Promise<string> {
    const kind = audienceKind(input.user);
    const key = this.keys.get(input.projectId, kind);
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      ...input.user,
      project_id: input.projectId,
      branch_id: input.branchId,
      refresh_token_id: input.sessionId,
      role: "authenticated",
    })
      .setProtectedHeader({ alg: "ES256", kid: key.kid })
      .setIssuer(issuerFor(this.publicUrl, input.projectId, kind))
      .setAudience(`${input.projectId}${audienceSuffix[kind]}`)
      .setIssuedAt(now)
      .setExpirationTime(now + this.lifetimeSeconds)
      .sign(key.privateKey);
  }

  /**
   * Checks signature, issuer, audience and expiry with keys held in memory — no database access (but
   * for a key id this process does not know, see `SigningKeys.verifying`).
   * `errors` picks the error family: user tokens and admin (dashboard) tokens report differently.
   */
  async verify(token: string, errors: "user" | "admin" = "user"): Promise<AccessTokenClaims> {
    const unparsable = () =>
      errors === "user"
        ? new KnownError("UNPARSABLE_ACCESS_TOKEN")
        : new KnownError("UNPARSABLE_ADMIN_ACCESS_TOKEN");
    let unverified: Partial<AccessTokenClaims>;
    let kid: string | undefined;
    try {
      unverified = decodeJwt(token) as Partial<AccessTokenClaims>;
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw unparsable();
    }
    const projectId = unverified.project_id;
    if (typeof projectId !== "string" || typeof unverified.aud !== "string") throw unparsable();
    // No project has such an id, and a key cannot be derived for it (HKDF takes at most 1,024 bytes).
    if (Buffer.byteLength(projectId) > MAX_PROJECT_ID_BYTES) throw unparsable();
    const kind = (Object.keys(audienceSuffix) as TokenAudience[]).find(
      (k) => unverified.aud === `${projectId}${audienceSuffix[k]}`,
    );
    if (!kind || typeof kid !== "string") throw unparsable();
    // Held in memory; only a key id no process has published yet reads the roots again (throttled).
    const key = await this.keys.verifying(projectId, kind, kid);
    if (!key) throw unparsable();
    try {
      const { payload } = await jwtVerify(token, key.publicKey, {
        algorithms: ["ES256"],
        issuer: issuerFor(this.publicUrl, projectId, kind),
        audience: unverified.aud,
      });
      return payload as unknown as AccessTokenClaims;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        const expiredAt = typeof unverified.exp === "number" ? new Date(unverified.exp * 1000) : null;
        if (errors === "admin") throw new KnownError("ADMIN_ACCESS_TOKEN_EXPIRED", expiredAt);
        throw new KnownError(
          "ACCESS_TOKEN_EXPIRED",
          expiredAt,
          projectId,
          unverified.sub ?? null,
          unverified.refresh_token_id ?? null,
        );
      }
      throw unparsable();
    }
  }
}
