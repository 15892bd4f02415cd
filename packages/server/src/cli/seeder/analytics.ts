import type { AnalyticsEngine } from "../../analytics-store/index.ts";
import type { SeedPlan } from "./plan.ts";
import { arrayLiteral, CITIES, COUNTRIES, PAGES, REFERRERS, REGIONS } from "./vocabulary.ts";

/** Events per INSERT: each one is generated inside ClickHouse, so a chunk costs no Node work at all. */
export const EVENT_CHUNK = 1_000_000;

const identifier = (value: string) => {
  if (!/^[A-Za-z0-9_-]+$/.test(value)) throw new Error(`Unexpected identifier: ${value}`);
  return `'${value}'`;
};

/** The user id of index `i`, as PostgreSQL's pg_temp.seed_uuid makes it (see plan.ts). */
const seedUuid = (plan: SeedPlan, kind: string, i: string) => {
  const h = `lower(hex(MD5(concat('${plan.runId}:${kind}:', toString(${i})))))`;
  return `concat(substring(${h}, 1, 8), '-', substring(${h}, 9, 4), '-4', substring(${h}, 14, 3), '-8',
                 substring(${h}, 18, 3), '-', substring(${h}, 21, 12))`;
};

/**
 * Inserts events [offset, offset + count) of the plan: for each, a user of the run (older users more
 * active), a time between that user's sign-up and now (every 40th in the last hour), and a type —
 * 15 % `$token-refresh` with the user's country, session and team, 60 % `$page-view`, 25 % `$click`.
 */
export async function insertEventChunk(
  engine: AnalyticsEngine,
  plan: SeedPlan,
  offset: number,
  count: number,
) {
  const fraction = (salt: number) => `(cityHash64('${plan.runId}', number, ${salt}) % 1000000) / 1000000.`;
  const page = `[${PAGES.map((p) => `'${p}'`).join(", ")}][1 + cityHash64('${plan.runId}', number, 5) % ${PAGES.length}]`;
  await engine.command(`
    INSERT INTO analytics_internal.events
      (event_type, event_at, data, project_id, branch_id, user_id, team_id, is_anonymous, refresh_token_id)
    SELECT event_type, event_at, data, ${identifier(plan.projectId)}, ${identifier(plan.branchId)}, user_id, team_id,
           anonymous, if(event_type = '$token-refresh', session_id, NULL)
    FROM (
      SELECT
        ${plan.startIndex} + toUInt64(floor(pow(${fraction(1)}, 2) * ${plan.users})) AS i,
        ${plan.nowMs} - ${plan.windowMs} * (${plan.endIndex} - i) / ${plan.users} AS signed_up_ms,
        if(number % 40 = 0,
           greatest(signed_up_ms, ${plan.nowMs} - ${fraction(2)} * 3600000),
           signed_up_ms + (${plan.nowMs} - signed_up_ms) * ${fraction(3)}) AS at_ms,
        fromUnixTimestamp64Milli(toInt64(at_ms), 'UTC') AS event_at,
        multiIf(number % 20 < 3, '$token-refresh', number % 20 < 15, '$page-view', '$click') AS event_type,
        i % 33 = 0 AS anonymous,
        ${seedUuid(plan, "user", "i")} AS user_id,
        ${seedUuid(plan, "session", "i")} AS session_id,
        if(i % 2 = 0 AND NOT anonymous, ${seedUuid(plan, "team", `intDiv(i, 2) % ${plan.teams}`)}, NULL) AS team_id,
        if(i % 5 = 4, NULL, ${arrayLiteral(COUNTRIES)}[1 + (i * 3) % ${COUNTRIES.length}]) AS country,
        ${page} AS path,
        multiIf(
          event_type = '$token-refresh',
          toJSONString(CAST(tuple(session_id, anonymous,
              tuple(concat('10.', toString(i % 250), '.', toString(intDiv(i, 250) % 250), '.7'), true, country,
                    if(country IS NULL, NULL, ${arrayLiteral(REGIONS)}[1 + i % ${REGIONS.length}]),
                    ${arrayLiteral(CITIES)}[1 + i % ${CITIES.length}])),
            'Tuple(refresh_token_id String, is_anonymous Bool, ip_info Tuple(ip String, is_trusted Bool,
                   country_code Nullable(String), region_code Nullable(String), city_name String))')),
          event_type = '$page-view',
          toJSONString(CAST(tuple(concat('https://app.example.com', path), path,
              ${arrayLiteral(REFERRERS)}[1 + cityHash64('${plan.runId}', number, 4) % ${REFERRERS.length}],
              concat('Example — ', path), if(number % 7 = 0, 'initial', 'navigation'), 1280, 720, 1920, 1080),
            'Tuple(url String, path String, referrer String, title String, entry_type String,
                   viewport_width UInt16, viewport_height UInt16, screen_width UInt16, screen_height UInt16)')),
          toJSONString(CAST(tuple('button', if(number % 3 = 0, 'Sign up', 'Continue'), 'main > button.primary',
              NULL, 10 + number % 1200, 10 + number % 700, concat('https://app.example.com', path)),
            'Tuple(tag_name String, text String, selector String, href Nullable(String), x UInt32, y UInt32,
                   page_url String)'))
        )::JSON AS data
      FROM numbers(${offset}, ${count})
    )`);
}
