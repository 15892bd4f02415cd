import { createContext, Script } from "node:vm";
import { type ConfigObject, configLeaves, type RenderedConfig } from "@latchkey/contracts";
import { Environment } from "@marcbachmann/cel-js";
import { KnownError } from "../../errors/index.ts";

/** What a sign-up rule's condition (a CEL expression) can read. */
export interface SignUpRuleContext {
  email: string;
  emailDomain: string;
  /** ISO 3166-1 alpha-2 from the geo header of a trusted proxy (CDN), or "" when unknown. */
  countryCode: string;
  authMethod: "password" | "otp" | "oauth" | "passkey";
  oauthProvider: string;
  riskScores: { bot: number; free_trial_abuse: number };
}

/** Told of every rule whose condition matched a sign-up, decisive or not. */
export type RuleMatchListener = (ruleId: string, action: "allow" | "reject" | "restrict" | "log") => void;

export interface SignUpRulesOutcome {
  allowed: boolean;
  /** The first matching `restrict` rule: the new user is created restricted because of it. */
  restrictingRuleId: string | null;
}

const environment = new Environment()
  .registerVariable("email", "string")
  .registerVariable("emailDomain", "string")
  .registerVariable("countryCode", "string")
  .registerVariable("authMethod", "string")
  .registerVariable("oauthProvider", "string")
  .registerVariable("riskScores", "map");

/**
 * What is wrong with each sign-up rule condition an override writes. A condition that does not parse
 * or type-check never matches, so a `reject` rule with a typo would quietly let everyone in: refused
 * when it is saved instead. Checking only parses; no pattern runs, so this has no time budget.
 */
export function signUpRuleConditionErrors(override: ConfigObject): string[] {
  const errors: string[] = [];
  for (const [path, value] of configLeaves(override)) {
    const [section, rules, ruleId, field] = path;
    if (path.length !== 4 || section !== "auth" || rules !== "signUpRules" || field !== "condition") continue;
    if (typeof value !== "string" || value === "") continue;
    const checked = environment.check(value);
    const key = `auth.signUpRules.${ruleId}.condition`;
    if (!checked.valid) {
      errors.push(`${key} is not a valid CEL condition: ${checked.error?.message ?? "it does not parse"}`);
    } else if (checked.type !== "bool" && checked.type !== "dyn") {
      errors.push(`${key} must be a boolean expression, but it is a ${checked.type}.`);
    }
  }
  return errors;
}

/**
 * How long one condition may run. The CEL library matches with JavaScript regular expressions, on the
 * request's thread: a backtracking pattern in a project's rule (`(a+)+$`, `(a|aa)+$`) and a crafted
 * address could stall the server. V8 stops any script at this budget, a regular expression mid-match
 * included; the rule then fails closed (see {@link evaluateSignUpRules}).
 */
export const CONDITION_BUDGET_MS = 25;
const budgetContext = createContext({ task: null as null | (() => unknown) });
const runTask = new Script("task()");

function withinBudget<T>(task: () => T): T {
  budgetContext.task = task;
  try {
    return runTask.runInContext(budgetContext, { timeout: CONDITION_BUDGET_MS }) as T;
  } finally {
    budgetContext.task = null;
  }
}

export function createSignUpRuleContext(input: {
  email: string;
  countryCode?: string | null;
  authMethod: SignUpRuleContext["authMethod"];
  oauthProvider?: string | null;
  riskScores?: SignUpRuleContext["riskScores"];
}): SignUpRuleContext {
  const email = input.email.trim().toLowerCase();
  return {
    email,
    emailDomain: email.includes("@") ? (email.split("@").pop() ?? "") : "",
    countryCode: input.countryCode?.toUpperCase() ?? "",
    authMethod: input.authMethod,
    oauthProvider: input.oauthProvider ?? "",
    riskScores: input.riskScores ?? { bot: 0, free_trial_abuse: 0 },
  };
}

/** Whether a condition holds; a condition that does not evaluate to `true` (or fails) does not match. */
function conditionHolds(condition: string, context: SignUpRuleContext): boolean {
  const riskScores = new Map<string, bigint>([
    ["bot", BigInt(context.riskScores.bot)],
    ["free_trial_abuse", BigInt(context.riskScores.free_trial_abuse)],
  ]);
  return environment.evaluate(condition, { ...context, riskScores }) === true;
}

/**
 * Evaluates a project's sign-up rules, highest priority first (then by id): disabled rules and rules
 * without a condition are skipped, and so is a rule whose condition fails to evaluate (it is logged).
 * A condition that overruns its time budget counts as matching for `reject` and `restrict` rules and
 * as not matching for the others: a crafted address can only make its own sign-up stricter.
 * The first matching `allow` or `reject` decides; a matching `restrict` marks the user to be restricted
 * and evaluation goes on, as does `log`. With no decision, `signUpRulesDefaultAction` applies.
 */
export function evaluateSignUpRules(
  config: RenderedConfig,
  context: SignUpRuleContext,
  log: (message: string) => void,
  onMatch: RuleMatchListener = () => {},
): SignUpRulesOutcome {
  const rules = Object.entries(config.auth.signUpRules).sort(
    ([idA, a], [idB, b]) => b.priority - a.priority || (idA < idB ? -1 : idA > idB ? 1 : 0),
  );
  let restrictingRuleId: string | null = null;
  for (const [ruleId, rule] of rules) {
    const condition = rule.condition;
    if (!rule.enabled || !condition) continue;
    let matches = false;
    try {
      matches = withinBudget(() => conditionHolds(condition, context));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ERR_SCRIPT_EXECUTION_TIMEOUT") {
        log(`sign-up rule ${ruleId}: the condition could not be evaluated (${(error as Error).message})`);
        continue;
      }
      // Whoever can make a condition overrun its budget must not slip past a rule keeping them out.
      matches = rule.action.type === "reject" || rule.action.type === "restrict";
      log(`sign-up rule ${ruleId}: the condition ran past ${CONDITION_BUDGET_MS} ms for ${context.email}`);
    }
    if (!matches) continue;
    log(`sign-up rule ${ruleId} matched ${context.email} (${rule.action.type})`);
    onMatch(ruleId, rule.action.type);
    if (rule.action.type === "restrict") restrictingRuleId ??= ruleId;
    if (rule.action.type === "allow" || rule.action.type === "reject") {
      return { allowed: rule.action.type === "allow", restrictingRuleId };
    }
  }
  return { allowed: config.auth.signUpRulesDefaultAction !== "reject", restrictingRuleId };
}

export type SignUpRestriction =
  | { restricted_by_admin: true; restricted_by_admin_private_details: string }
  | Record<string, never>;

/**
 * Applies the rules to a sign-up about to create (or upgrade to) a regular user: refuses it with
 * `SIGN_UP_REJECTED`, or returns the restriction fields the new user gets.
 */
export function signUpRestriction(
  config: RenderedConfig,
  context: SignUpRuleContext,
  log: (message: string) => void,
  onMatch?: RuleMatchListener,
): SignUpRestriction {
  const outcome = evaluateSignUpRules(config, context, log, onMatch);
  if (!outcome.allowed) throw new KnownError("SIGN_UP_REJECTED");
  if (!outcome.restrictingRuleId) return {};
  const displayName = config.auth.signUpRules[outcome.restrictingRuleId]?.displayName;
  return {
    restricted_by_admin: true,
    restricted_by_admin_private_details: `Restricted by sign-up rule: ${outcome.restrictingRuleId}${displayName ? ` (${displayName})` : ""}`,
  };
}
