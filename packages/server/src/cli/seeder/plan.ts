import { randomBytes } from "node:crypto";

/**
 * What one seed run creates. Every seeded value derives from a user's index `i` in
 * [startIndex, endIndex) and the run id, by the same formulas in PostgreSQL and in ClickHouse:
 *
 * - user id: md5("<run>:user:<i>") as a UUID with version 4 and variant 8 nibbles;
 * - anonymous: i % 33 = 0; team member: i even and not anonymous, in team (i / 2) % teams, whose id is
 *   md5("<run>:team:<k>");
 * - signed up: `nowMs − windowMs × (endIndex − i) / users` (older indexes earlier);
 * - country: COUNTRIES[(3i) % n], none when i % 5 = 4.
 */
export interface SeedPlan {
  runId: string;
  tenancyId: string;
  projectId: string;
  branchId: string;
  users: number;
  events: number;
  startIndex: number;
  endIndex: number;
  teams: number;
  nowMs: number;
  windowMs: number;
  /** SQL (PostgreSQL) that is true for anonymous user indexes. */
  anonymous(i: string): string;
  teamMember(i: string): string;
}

export function seedPlan(options: {
  tenancyId: string;
  projectId: string;
  branchId: string;
  users: number;
  events: number;
  days: number;
  startIndex: number;
}): SeedPlan {
  const anonymous = (i: string) => `(${i} % 33 = 0)`;
  return {
    runId: randomBytes(4).toString("hex"),
    ...options,
    endIndex: options.startIndex + options.users,
    teams: Math.max(1, Math.ceil(options.users / 20)),
    nowMs: Date.now(),
    windowMs: options.days * 24 * 60 * 60 * 1000,
    anonymous,
    teamMember: (i) => `(${i} % 2 = 0 AND NOT ${anonymous(i)})`,
  };
}
