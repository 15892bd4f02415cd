import pg from "pg";
import type { AnalyticsEngine } from "../../analytics-store/index.ts";
import { EVENT_CHUNK, insertEventChunk } from "./analytics.ts";
import { type SeedPlan, seedPlan } from "./plan.ts";
import {
  defineSeedFunctions,
  insertUserChunk,
  SEED_PASSWORD,
  seedPasswordHash,
  USER_CHUNK,
} from "./postgres.ts";
import { Progress } from "./progress.ts";

export interface SeedOptions {
  databaseUrl: string;
  /** Where events go; needed only when events are seeded. */
  engine?: AnalyticsEngine;
  projectId: string;
  branchId?: string;
  users: number;
  events: number;
  /** How far back sign-ups and activity reach. */
  days?: number;
  /** Where progress lines go (stderr by default); tests silence it. */
  write?: (line: string) => void;
}

export interface SeedSummary {
  tenancyId: string;
  runId: string;
  users: number;
  events: number;
  rows: Record<string, number>;
  seconds: { postgres: number; analytics: number };
  password: string;
}

export class SeedError extends Error {}

/**
 * Fills a project's tenancy with realistic users (e-mails, passwords, OTP, OAuth accounts, sessions,
 * teams) and analytics events, in bulk: PostgreSQL rows come from `INSERT … SELECT generate_series` and
 * events are generated inside the analytics engine — nothing goes row by row through Node. Running it
 * again adds more users after the existing ones.
 */
export async function seedProject(options: SeedOptions): Promise<SeedSummary> {
  if (!Number.isSafeInteger(options.users) || options.users < 0)
    throw new SeedError("--users must be a whole number ≥ 0");
  if (!Number.isSafeInteger(options.events) || options.events < 0)
    throw new SeedError("--events must be a whole number ≥ 0");
  if (options.events > 0 && options.users === 0)
    throw new SeedError("--events needs --users: events belong to seeded users");
  if (options.events > 0 && !options.engine) throw new SeedError("Seeding events needs an analytics store");
  const days = options.days ?? 60;
  if (!Number.isSafeInteger(days) || days < 1) throw new SeedError("--days must be a whole number ≥ 1");
  const branchId = options.branchId ?? "main";
  const client = new pg.Client({ connectionString: options.databaseUrl, application_name: "latchkey-seed" });
  await client.connect();
  try {
    const tenancy = await client.query<{ id: string; users: string }>(
      `SELECT t.id, (SELECT count(*) FROM users u WHERE u.tenancy_id = t.id)::text AS users
         FROM tenancies t WHERE t.project_id = $1 AND t.branch_id = $2`,
      [options.projectId, branchId],
    );
    if (!tenancy.rows[0]) throw new SeedError(`No project "${options.projectId}" with branch "${branchId}".`);
    const plan = seedPlan({
      tenancyId: tenancy.rows[0].id,
      projectId: options.projectId,
      branchId,
      users: options.users,
      events: options.events,
      days,
      startIndex: Number(tenancy.rows[0].users),
    });
    const postgresSeconds = await seedPostgres(client, plan, options.write);
    const analyticsSeconds = options.engine ? await seedEvents(options.engine, plan, options.write) : 0;
    return {
      tenancyId: plan.tenancyId,
      runId: plan.runId,
      users: plan.users,
      events: plan.events,
      rows: await countRows(client, plan.tenancyId),
      seconds: { postgres: postgresSeconds, analytics: analyticsSeconds },
      password: SEED_PASSWORD,
    };
  } finally {
    await client.end();
  }
}

async function seedPostgres(
  client: pg.Client,
  plan: SeedPlan,
  write?: (line: string) => void,
): Promise<number> {
  if (plan.users === 0) return 0;
  await defineSeedFunctions(client, plan);
  const passwordHash = await seedPasswordHash();
  const progress = new Progress("users", plan.users, write);
  for (let from = plan.startIndex; from < plan.endIndex; from += USER_CHUNK) {
    const to = Math.min(from + USER_CHUNK, plan.endIndex);
    await insertUserChunk(client, plan, from, to, passwordHash);
    progress.update(to - plan.startIndex);
  }
  return progress.elapsed();
}

async function seedEvents(
  engine: AnalyticsEngine,
  plan: SeedPlan,
  write?: (line: string) => void,
): Promise<number> {
  if (plan.events === 0) return 0;
  const progress = new Progress("events", plan.events, write);
  for (let offset = 0; offset < plan.events; offset += EVENT_CHUNK) {
    const count = Math.min(EVENT_CHUNK, plan.events - offset);
    await insertEventChunk(engine, plan, offset, count);
    progress.update(offset + count);
  }
  return progress.elapsed();
}

async function countRows(client: pg.Client, tenancyId: string): Promise<Record<string, number>> {
  const rows: Record<string, number> = {};
  for (const table of [
    "users",
    "contact_channels",
    "password_credentials",
    "oauth_accounts",
    "sessions",
    "teams",
    "team_members",
  ]) {
    const { rows: result } = await client.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ${table} WHERE tenancy_id = $1`,
      [tenancyId],
    );
    rows[table] = Number(result[0]!.n);
  }
  return rows;
}
