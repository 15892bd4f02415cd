import type { RenderedConfig } from "@latchkey/contracts";
import Type, { type Static } from "typebox";
import type { AppContext } from "../../app-context.ts";
import { KnownError } from "../../errors/index.ts";
import { isTrustedHostname } from "./trusted-urls.ts";

/**
 * The bot-challenge fields sign-up requests may carry. The SDK first sends an invisible Turnstile
 * token (`phase: "invisible"`); if that one fails it shows a visible challenge and sends again with
 * `phase: "visible"`; a client that could not load the widget says `bot_challenge_unavailable`.
 */
export const botChallengeFields = {
  bot_challenge_token: Type.Optional(Type.String({ maxLength: 4096 })),
  bot_challenge_phase: Type.Optional(Type.Union([Type.Literal("invisible"), Type.Literal("visible")])),
  // The SDK sends the string "true"; earlier Latchkey releases took a boolean (false: not unavailable).
  bot_challenge_unavailable: Type.Optional(
    Type.Union([Type.Literal("true"), Type.Literal(true), Type.Literal(false)]),
  ),
};
const botChallengeRequest = Type.Object(botChallengeFields);
export type BotChallengeRequest = Static<typeof botChallengeRequest>;

/** What Turnstile said about a token: passed, rejected, or could not be asked. */
export type ChallengeResult = "ok" | "invalid" | "error";

export interface BotChallengeAssessment {
  status: ChallengeResult;
  /** Set when the client went on to a visible challenge (or could not show one). */
  visibleChallengeResult?: ChallengeResult;
}

/** The Turnstile `action` each flow's widget is rendered with (the SDK's names). */
export type ChallengeAction = "sign_up_with_credential" | "send_magic_link_email";

const SITEVERIFY_TIMEOUT_MS = 10_000;

/**
 * Checks a request's bot challenge. A failed invisible token is answered with
 * `BOT_CHALLENGE_REQUIRED` (the SDK then shows a visible challenge), a failed visible one with
 * `BOT_CHALLENGE_FAILED`; a visible pass after an invisible failure still counts as "invalid" for the
 * risk score — a client could otherwise skip the invisible step to avoid the penalty. Requests from
 * clients without the phased flow get the plain verdict. With no Turnstile secret configured, every
 * request passes.
 */
export async function assessBotChallenge(
  app: AppContext,
  config: RenderedConfig,
  request: BotChallengeRequest,
  action: ChallengeAction,
  remoteIp: string | null,
): Promise<BotChallengeAssessment> {
  const secret = app.env.turnstileSecretKey;
  if (!secret) return { status: "ok" };
  if (request.bot_challenge_unavailable !== undefined && request.bot_challenge_unavailable !== false) {
    if (request.bot_challenge_token !== undefined || request.bot_challenge_phase !== undefined)
      throw new KnownError(
        "SCHEMA_ERROR",
        "bot_challenge_unavailable cannot be combined with bot_challenge_token or bot_challenge_phase.",
      );
    return { status: "error", visibleChallengeResult: "error" };
  }
  const status = await verifyToken(app, secret, config, request.bot_challenge_token, action, remoteIp);
  switch (request.bot_challenge_phase) {
    case undefined:
      return { status };
    case "invisible":
      if (status !== "ok") throw new KnownError("BOT_CHALLENGE_REQUIRED");
      return { status };
    case "visible":
      if (status !== "ok")
        throw new KnownError("BOT_CHALLENGE_FAILED", "Visible bot challenge verification failed");
      return { status: "invalid", visibleChallengeResult: "ok" };
  }
}

async function verifyToken(
  app: AppContext,
  secret: string,
  config: RenderedConfig,
  token: string | undefined,
  action: ChallengeAction,
  remoteIp: string | null,
): Promise<ChallengeResult> {
  if (!token?.trim()) return "invalid";
  const form = new URLSearchParams({ secret, response: token.trim() });
  if (remoteIp) form.set("remoteip", remoteIp);
  let verdict: { success?: unknown; action?: unknown; hostname?: unknown };
  try {
    // No retry: a token is single-use, and a failure sends the user to the visible challenge anyway.
    const response = await fetch(app.env.turnstileSiteverifyUrl, {
      method: "POST",
      body: form,
      signal: AbortSignal.timeout(SITEVERIFY_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`siteverify answered ${response.status}`);
    verdict = (await response.json()) as typeof verdict;
    if (typeof verdict?.success !== "boolean") throw new Error("siteverify's answer has no success flag");
  } catch (error) {
    app.log(`bot challenge: Turnstile could not be asked (${(error as Error).message})`);
    return "error";
  }
  if (!verdict.success) return "invalid";
  // A token solved on someone else's site, or for another form, does not count.
  if (typeof verdict.hostname === "string" && !isTrustedHostname(config, verdict.hostname)) return "invalid";
  if (typeof verdict.action === "string" && verdict.action !== action) return "invalid";
  return "ok";
}
