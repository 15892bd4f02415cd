import { createRequire } from "node:module";
import { BlockList, isIP } from "node:net";
import { sql } from "kysely";
import type { Db } from "../users/records.ts";
import type { BotChallengeAssessment } from "./bot-challenge.ts";

/** A sign-up's risk scores, 0–100 each (the user's `risk_scores.sign_up`). */
export interface RiskScores {
  bot: number;
  free_trial_abuse: number;
}

/** What a sign-up is judged by; all but `disposableEmail` is stored, for later sign-ups to be compared with. */
export interface SignUpFacts {
  /** At one of the throwaway-mail providers the `mailchecker` package lists (~55,000 domains). */
  disposableEmail: boolean;
  /** Null when the address says nothing about the person (see {@link signUpFacts}). */
  ip: string | null;
  emailNormalized: string | null;
  emailBase: string | null;
}

export interface SignUpAssessment {
  facts: SignUpFacts;
  scores: RiskScores;
}

/** Upstream's default weights: what each signal adds to the bot and free-trial-abuse scores. */
const WEIGHTS = {
  /** Another sign-up from the same address within the window. */
  sameIp: { bot: 35, free_trial_abuse: 70 },
  /** Another address with the same base (alice1@, alice.2@) or inbox within the window. */
  similarEmail: { bot: 20, free_trial_abuse: 60 },
  challengeFailed: { bot: 80, free_trial_abuse: 40 },
  /** An address at a throwaway-mail provider (mailinator, yopmail, …). */
  disposableEmail: { bot: 100, free_trial_abuse: 100 },
  /** Failed the invisible challenge, then solved the visible one. */
  challengeRecovered: { bot: 40, free_trial_abuse: 20 },
} as const;
const RECENT_WINDOW = "24 hours";

/** Mailboxes whose providers ignore dots or `+tags`: all spellings reach one inbox. */
const PROVIDERS: Record<string, { canonical?: string; ignoresDots?: boolean; subaddressing?: boolean }> = {
  "gmail.com": { ignoresDots: true, subaddressing: true },
  "googlemail.com": { canonical: "gmail.com", ignoresDots: true, subaddressing: true },
  "outlook.com": { subaddressing: true },
  "hotmail.com": { subaddressing: true },
  "live.com": { subaddressing: true },
  "icloud.com": { subaddressing: true },
  "me.com": { canonical: "icloud.com", subaddressing: true },
  "fastmail.com": { subaddressing: true },
  "proton.me": { subaddressing: true },
  "protonmail.com": { canonical: "proton.me", subaddressing: true },
};

function splitEmail(email: string | null): { local: string; domain: string } | null {
  const lower = email?.trim().toLowerCase();
  const at = lower?.lastIndexOf("@") ?? -1;
  if (!lower || at <= 0) return null;
  return { local: lower.slice(0, at), domain: lower.slice(at + 1) };
}

/** The inbox an address reaches: `J.Doe+x@googlemail.com` → `jdoe@gmail.com`. */
export function normalizeEmailForRisk(email: string | null): string | null {
  const parts = splitEmail(email);
  if (!parts) return null;
  const provider = PROVIDERS[parts.domain];
  let local = parts.local;
  if (provider?.subaddressing) local = local.split("+")[0] || local;
  if (provider?.ignoresDots) local = local.replaceAll(".", "");
  return `${local}@${provider?.canonical ?? parts.domain}`;
}

/**
 * The pattern a series of made-up addresses shares: separators unified, `+tags` and trailing numbers
 * dropped — `alice.smith+3@x.com`, `alice_smith42@x.com` → `alice-smith@x.com`.
 */
export function emailBaseForRisk(email: string | null): string | null {
  const parts = splitEmail(email);
  if (!parts) return null;
  const untagged = parts.local.split("+")[0] || parts.local;
  const base = trimDashes(withoutTrailingNumbers(untagged.replace(/[._-]+/g, "-")));
  return `${base || untagged}@${PROVIDERS[parts.domain]?.canonical ?? parts.domain}`;
}

const isDigit = (char: string | undefined) => char !== undefined && char >= "0" && char <= "9";

/** `alice-12-34` → `alice`, `alice123` → `alice`; a scan from the end, linear in the length. */
function withoutTrailingNumbers(local: string): string {
  let end = local.length;
  for (;;) {
    let start = end;
    while (isDigit(local[start - 1])) start--;
    if (start === end) return local.slice(0, end);
    if (local[start - 1] !== "-") return local.slice(0, start);
    end = start - 1;
  }
}

function trimDashes(text: string): string {
  let start = 0;
  let end = text.length;
  while (text[start] === "-") start++;
  while (end > start && text[end - 1] === "-") end--;
  return text.slice(start, end);
}

const privateNetworks = new BlockList();
for (const [network, prefix] of [
  ["10.0.0.0", 8],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["100.64.0.0", 10],
] as const)
  privateNetworks.addSubnet(network, prefix, "ipv4");
for (const [network, prefix] of [
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
] as const)
  privateNetworks.addSubnet(network, prefix, "ipv6");

/**
 * The facts kept about a sign-up. Its IP only counts when it is the person's: a private or loopback
 * address without a trusted proxy is most likely a proxy in front of Latchkey, shared by everyone.
 */
export function signUpFacts(input: {
  email: string | null;
  ip: string | null;
  trustProxy: boolean;
}): SignUpFacts {
  const ip = input.ip?.startsWith("::ffff:") && isIP(input.ip.slice(7)) === 4 ? input.ip.slice(7) : input.ip;
  const family = ip ? isIP(ip) : 0;
  const personal =
    family !== 0 && (input.trustProxy || !privateNetworks.check(ip!, family === 4 ? "ipv4" : "ipv6"));
  return {
    disposableEmail: isThrowawayAddress(input.email),
    ip: personal ? ip : null,
    emailNormalized: normalizeEmailForRisk(input.email),
    emailBase: emailBaseForRisk(input.email),
  };
}

// Required, not imported: Node's ESM loader sees only the first of this CommonJS module's exports.
const mailchecker = createRequire(import.meta.url)("mailchecker") as typeof import("mailchecker");
const throwawayDomains = mailchecker.blacklist();

/** Whether the address's domain, or a domain above it, is a throwaway-mail provider. */
function isThrowawayAddress(email: string | null): boolean {
  const labels = splitEmail(email)?.domain.split(".") ?? [];
  return labels.some((_, start) => throwawayDomains.has(labels.slice(start).join(".")));
}

const add = (a: RiskScores, b: RiskScores): RiskScores => ({
  bot: a.bot + b.bot,
  free_trial_abuse: a.free_trial_abuse + b.free_trial_abuse,
});

/**
 * Scores a sign-up from its e-mail provider, the tenancy's recent sign-ups (same address, look-alike
 * e-mail) and its bot challenge. Upstream asks a paid deliverability service about the address; a
 * self-hosted server checks a maintained list of throwaway providers instead, offline. Runs before the
 * user exists, so the sign-up never matches itself.
 */
export async function assessSignUp(
  db: Db,
  tenancyId: string,
  facts: SignUpFacts,
  challenge: BotChallengeAssessment,
): Promise<SignUpAssessment> {
  // Another inbox of the same pattern, or another spelling of the same inbox (`a+1@gmail.com`,
  // `a+2@gmail.com`): either way one person collecting accounts.
  const { rows } = await sql<{ same_ip: boolean; similar_email: boolean }>`
    SELECT EXISTS (SELECT 1 FROM users
                    WHERE tenancy_id = ${tenancyId} AND sign_up_ip = ${facts.ip}
                      AND sign_up_recorded_at > now() - ${RECENT_WINDOW}::interval) AS same_ip,
           EXISTS (SELECT 1 FROM users
                    WHERE tenancy_id = ${tenancyId} AND sign_up_email_base = ${facts.emailBase}
                      AND sign_up_recorded_at > now() - ${RECENT_WINDOW}::interval)
           OR EXISTS (SELECT 1 FROM users
                       WHERE tenancy_id = ${tenancyId} AND sign_up_email_normalized = ${facts.emailNormalized}
                         AND sign_up_recorded_at > now() - ${RECENT_WINDOW}::interval) AS similar_email`.execute(
    db,
  );
  const recent = rows[0]!;
  let scores: RiskScores = { bot: 0, free_trial_abuse: 0 };
  if (facts.disposableEmail) scores = add(scores, WEIGHTS.disposableEmail);
  if (recent.same_ip) scores = add(scores, WEIGHTS.sameIp);
  if (recent.similar_email) scores = add(scores, WEIGHTS.similarEmail);
  // A client saying it could not show the challenge proves nothing either: scored as failing it.
  if (challenge.status === "invalid" || challenge.visibleChallengeResult === "error")
    scores = add(
      scores,
      challenge.visibleChallengeResult === "ok" ? WEIGHTS.challengeRecovered : WEIGHTS.challengeFailed,
    );
  return {
    facts,
    scores: { bot: Math.min(100, scores.bot), free_trial_abuse: Math.min(100, scores.free_trial_abuse) },
  };
}

/** Stores a sign-up's facts and scores on the user it created (or upgraded). */
export async function recordSignUpAssessment(
  db: Db,
  tenancyId: string,
  userId: string,
  assessment: SignUpAssessment,
): Promise<void> {
  await db
    .updateTable("users")
    .set({
      sign_up_ip: assessment.facts.ip,
      sign_up_email_normalized: assessment.facts.emailNormalized,
      sign_up_email_base: assessment.facts.emailBase,
      // Not signed_up_at: an anonymous user upgraded now signed up now, whenever it was created.
      sign_up_recorded_at: sql`now()`,
      risk_score_bot: assessment.scores.bot,
      risk_score_free_trial_abuse: assessment.scores.free_trial_abuse,
    })
    .where("tenancy_id", "=", tenancyId)
    .where("id", "=", userId)
    .execute();
}
