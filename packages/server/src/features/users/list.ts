import type { RenderedConfig } from "@latchkey/contracts";
import { sql } from "kysely";
import { StatusError } from "../../errors/index.ts";
import { isUuid } from "../../http/requirements.ts";
import type { Db, UserRecord } from "./records.ts";
import { selectUsers } from "./records.ts";
import type { UserListQuery } from "./schemas.ts";

/**
 * One page of users, ordered by (signed_up_at, id) — keyset pagination, so any page costs the same
 * however deep it is. The cursor is the id of the first user of the page it starts.
 */
export async function listUsers(
  db: Db,
  tenancyId: string,
  config: RenderedConfig,
  query: UserListQuery,
): Promise<{ items: UserRecord[]; nextCursor: string | null }> {
  if (query.only_anonymous === "true" && query.include_anonymous !== "true") {
    throw new StatusError(400, "Cannot set only_anonymous=true without include_anonymous=true");
  }
  const desc = query.desc === "true";
  const includeAnonymous = query.include_anonymous === "true";
  const includeRestricted = includeAnonymous || query.include_restricted === "true";
  const conditions = [sql`true`];

  if (query.only_anonymous === "true") conditions.push(sql`u.is_anonymous`);
  else if (!includeAnonymous) conditions.push(sql`NOT u.is_anonymous`);
  if (!includeRestricted) {
    conditions.push(sql`NOT u.restricted_by_admin`);
    if (config.onboarding.requireEmailVerification) {
      conditions.push(sql`EXISTS (SELECT 1 FROM contact_channels c WHERE c.tenancy_id = u.tenancy_id
                          AND c.user_id = u.id AND c.is_primary AND c.is_verified)`);
    }
  }
  if (query.team_id) {
    conditions.push(sql`EXISTS (SELECT 1 FROM team_members m WHERE m.tenancy_id = u.tenancy_id
                        AND m.user_id = u.id AND m.team_id = ${query.team_id})`);
  }
  if (query.cursor) {
    const comparison = desc ? sql`<=` : sql`>=`;
    conditions.push(sql`(u.signed_up_at, u.id) ${comparison} (
      SELECT c.signed_up_at, c.id FROM users c WHERE c.tenancy_id = ${tenancyId} AND c.id = ${query.cursor})`);
  }
  const direction = desc ? sql`DESC` : sql`ASC`;
  const limit = query.limit !== undefined ? sql`LIMIT ${query.limit + 1}` : sql``;
  const order = sql`ORDER BY u.signed_up_at ${direction}, u.id ${direction} ${limit}`;
  if (query.query) conditions.push(searchCondition(query.query.trim()));
  const rows = await selectUsers(db, tenancyId, sql.join(conditions, sql` AND `), { tail: order });
  if (query.limit !== undefined && rows.length > query.limit) {
    return { items: rows.slice(0, query.limit), nextCursor: rows[query.limit]!.id };
  }
  return { items: rows, nextCursor: null };
}

/**
 * `query`: an exact id, or a case-insensitive substring of the display name or any contact-channel
 * value — all of which `users.search_text` holds, kept current by triggers. On one column PostgreSQL
 * can choose from its estimate of how common the text is: a rare one is collected through the
 * trigram index and sorted, a common one is met soon enough by walking the list in order.
 */
function searchCondition(text: string) {
  if (isUuid(text)) return sql`u.id = ${text.toLowerCase()}`;
  // The parts of search_text are joined by U+001F; without it in the text, a match stays inside one.
  const escaped = text.replaceAll("\u001f", "").replace(/[\\%_]/g, (c) => `\\${c}`);
  return sql`u.search_text ILIKE ${`%${escaped}%`}`;
}
