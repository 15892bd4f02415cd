import type { AppContext } from "../../app-context.ts";
import { recordServerEvent } from "../analytics/events.ts";
import type { Db } from "../users/records.ts";
import type { BotChallengeAssessment } from "./bot-challenge.ts";
import type { EndUserOrigin } from "./end-user.ts";
import type { TenancyRef } from "./issue.ts";
import { assessSignUp, type SignUpAssessment, signUpFacts } from "./sign-up-risk.ts";
import { createSignUpRuleContext, type SignUpRestriction, signUpRestriction } from "./sign-up-rules.ts";

export interface SignUpCheckInput {
  /** Normalized (trimmed, lower case). */
  email: string;
  origin: EndUserOrigin;
  authMethod: "password" | "otp";
  challenge: BotChallengeAssessment;
}

/**
 * What a new account is checked by before it exists: its risk is scored (recent sign-ups from its
 * address, look-alike e-mails, its bot challenge), then the project's sign-up rules — which can read
 * those scores — decide. Every matching rule is recorded as a `$sign-up-rule-trigger` event; a
 * rejection throws `SIGN_UP_REJECTED`. The caller stores the assessment on the user it creates
 * ({@link recordSignUpAssessment}) and spreads the restriction into it.
 */
export async function checkSignUp(
  app: AppContext,
  db: Db,
  scope: TenancyRef,
  input: SignUpCheckInput,
): Promise<{ restriction: SignUpRestriction; assessment: SignUpAssessment }> {
  const facts = signUpFacts({ email: input.email, ip: input.origin.ip, trustProxy: app.env.trustProxy });
  const assessment = await assessSignUp(db, scope.tenancy.id, facts, input.challenge);
  const restriction = signUpRestriction(
    scope.tenancy.config,
    createSignUpRuleContext({
      email: input.email,
      // Only geo a trusted proxy wrote: a client could send the header itself to pass a country rule.
      countryCode: input.origin.geoTrusted ? input.origin.geo?.country_code : null,
      authMethod: input.authMethod,
      riskScores: assessment.scores,
    }),
    app.log,
    (ruleId, action) =>
      recordServerEvent(app, {
        event_type: "$sign-up-rule-trigger",
        event_at_ms: Date.now(),
        data: {
          rule_id: ruleId,
          action,
          email: input.email,
          auth_method: input.authMethod,
          oauth_provider: null,
        },
        project_id: scope.project.id,
        branch_id: scope.tenancy.branchId,
        user_id: null,
        is_anonymous: false,
        refresh_token_id: null,
      }),
  );
  return { restriction, assessment };
}
