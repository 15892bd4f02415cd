import type { AnalyticsEngine } from "../../analytics-store/index.ts";
import type { ActivitySplit, DataPoint, TopRegion } from "./schemas.ts";
import type { MetricsScope } from "./user-metrics.ts";
import { fillSeries, type MetricsWindow } from "./window.ts";

/**
 * The activity half of the metrics, read from the analytics store's events. Activity is the
 * `$token-refresh` event every issued access token writes (with the user's selected team and the
 * request's geo); page views and clicks come from the browser tracker.
 *
 * Unlike upstream, users deleted since (a `$user-deleted` event) do not count as active, and team
 * activity counts real team ids. Anonymous users are those whose latest token refresh says so.
 */
export interface ActivityMetrics {
  dailyActiveUsers: DataPoint[];
  monthlyActiveUsers: number;
  usersByCountry: Record<string, number>;
  activeUsersSplit: ActivitySplit;
  activeTeamsSplit: ActivitySplit;
  onlineLive: number;
  topRegion: TopRegion | null;
  dailyPageViews: DataPoint[];
  dailyClicks: DataPoint[];
  dailyVisitors: DataPoint[];
  visitors: number;
  topReferrers: { referrer: string; visitors: number }[];
}

const SCOPE = `project_id = {project:String} AND branch_id = {branch:String}`;
const IN_WINDOW = `event_at >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')
  AND event_at < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')`;

/** Users whose activity is not shown: deleted ones, and anonymous ones unless asked for. */
const HIDDEN_USERS = `hidden_users AS (
  SELECT user_id FROM analytics_internal.events
   WHERE ${SCOPE} AND event_type IN ('$token-refresh', '$user-deleted') AND user_id IS NOT NULL
   GROUP BY user_id
  HAVING countIf(event_type = '$user-deleted') > 0
      OR ({exclude_anonymous:Bool} AND argMaxIf(ifNull(data.is_anonymous::Nullable(Bool), false), event_at,
                                                event_type = '$token-refresh'))
)`;

const VISIBLE_USER = `user_id IS NOT NULL AND user_id NOT IN hidden_users`;
const TOKEN_REFRESHES = `analytics_internal.events WHERE ${SCOPE} AND event_type = '$token-refresh' AND ${VISIBLE_USER}`;
const UUID_V4 = "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$";

export async function activityMetrics(
  engine: AnalyticsEngine,
  scope: MetricsScope,
  window: MetricsWindow,
): Promise<ActivityMetrics> {
  const params = {
    project: scope.projectId,
    branch: scope.branchId,
    since_ms: window.sinceMs,
    until_ms: window.untilExclusiveMs,
    online_since_ms: window.nowMs - 5 * 60 * 1000,
    exclude_anonymous: !scope.includeAnonymous,
    uuid_v4: UUID_V4,
  };
  const rows = <T>(sql: string) => queryRows<T>(engine, `WITH ${HIDDEN_USERS} ${sql}`, params);

  const [activeUsers, countries, userSplit, teamSplit, regions, browsing, referrers] = await Promise.all([
    rows<{ day: string; users: number; online: number; mau: number }>(`
      SELECT toString(toDate(event_at)) AS day, uniqExact(user_id) AS users, 0 AS online, 0 AS mau
        FROM ${TOKEN_REFRESHES} AND ${IN_WINDOW}
       GROUP BY day
      UNION ALL
      SELECT '' AS day, 0,
             uniqExactIf(user_id, event_at >= fromUnixTimestamp64Milli({online_since_ms:Int64}, 'UTC')),
             uniqExactIf(lower(trim(BOTH ' ' FROM user_id)), match(lower(trim(BOTH ' ' FROM user_id)), {uuid_v4:String}))
        FROM ${TOKEN_REFRESHES} AND ${IN_WINDOW}`),
    rows<{ country_code: string; users: number }>(`
      SELECT country_code, count() AS users FROM (
        SELECT user_id, argMax(data.ip_info.country_code::Nullable(String), event_at) AS country_code
          FROM ${TOKEN_REFRESHES} AND data.ip_info.country_code IS NOT NULL
         GROUP BY user_id)
       GROUP BY country_code`),
    rows<SplitRow>(activitySplitQuery("user_id")),
    rows<SplitRow>(activitySplitQuery("team_id")),
    rows<TopRegion>(`
      SELECT data.ip_info.country_code::Nullable(String) AS country_code,
             data.ip_info.region_code::Nullable(String) AS region_code, uniqExact(user_id) AS count
        FROM ${TOKEN_REFRESHES} AND ${IN_WINDOW}
       GROUP BY country_code, region_code
       ORDER BY count DESC, country_code, region_code
       LIMIT 1`),
    rows<{ day: string; page_views: number; clicks: number; visitors: number }>(`
      SELECT toString(toDate(event_at)) AS day, countIf(event_type = '$page-view') AS page_views,
             countIf(event_type = '$click') AS clicks, uniqExactIf(user_id, event_type = '$page-view') AS visitors
        FROM analytics_internal.events
       WHERE ${SCOPE} AND event_type IN ('$page-view', '$click') AND ${IN_WINDOW} AND ${VISIBLE_USER}
       GROUP BY day
      UNION ALL
      SELECT '' AS day, 0, 0, uniqExact(user_id)
        FROM analytics_internal.events
       WHERE ${SCOPE} AND event_type = '$page-view' AND ${IN_WINDOW} AND ${VISIBLE_USER}`),
    rows<{ referrer: string; visitors: number }>(`
      SELECT if(referrer = '', '(direct)', referrer) AS referrer, uniqExact(user_id) AS visitors FROM (
        SELECT user_id, ifNull(toString(data.referrer), '') AS referrer
          FROM analytics_internal.events
         WHERE ${SCOPE} AND event_type = '$page-view' AND ${IN_WINDOW} AND ${VISIBLE_USER})
       GROUP BY referrer
       ORDER BY visitors DESC, referrer
       LIMIT 100`),
  ]);

  const activeDays = activeUsers.filter((row) => row.day !== "");
  const browsingDays = browsing.filter((row) => row.day !== "");
  return {
    dailyActiveUsers: fillSeries(
      window,
      activeDays.map((row) => [row.day, Number(row.users)]),
    ),
    monthlyActiveUsers: Number(activeUsers.find((row) => row.day === "")?.mau ?? 0),
    onlineLive: Number(activeUsers.find((row) => row.day === "")?.online ?? 0),
    usersByCountry: Object.fromEntries(countries.map((row) => [row.country_code, Number(row.users)])),
    activeUsersSplit: splitSeries(window, userSplit),
    activeTeamsSplit: splitSeries(window, teamSplit),
    topRegion: regions[0] ? { ...regions[0], count: Number(regions[0].count) } : null,
    dailyPageViews: fillSeries(
      window,
      browsingDays.map((row) => [row.day, Number(row.page_views)]),
    ),
    dailyClicks: fillSeries(
      window,
      browsingDays.map((row) => [row.day, Number(row.clicks)]),
    ),
    dailyVisitors: fillSeries(
      window,
      browsingDays.map((row) => [row.day, Number(row.visitors)]),
    ),
    visitors: Number(browsing.find((row) => row.day === "")?.visitors ?? 0),
    topReferrers: referrers.map((row) => ({ referrer: row.referrer, visitors: Number(row.visitors) })),
  };
}

interface SplitRow {
  day: string;
  total: number;
  new: number;
  retained: number;
}

/**
 * Per day of the window, the active entities (users or teams) and how many of them were active for
 * the first time ever (new), also the day before (retained), or earlier but not the day before
 * (reactivated = total − new − retained).
 */
function activitySplitQuery(entity: "user_id" | "team_id"): string {
  return `
    SELECT toString(active_day) AS day, count() AS total, countIf(first_day = active_day) AS new,
           countIf(first_day != active_day AND has(days, active_day - 1)) AS retained
      FROM (SELECT ${entity} AS entity, min(toDate(event_at)) AS first_day,
                   groupUniqArrayIf(toDate(event_at),
                     event_at >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC') - INTERVAL 1 DAY) AS days
              FROM ${TOKEN_REFRESHES} AND ${entity} IS NOT NULL
               AND event_at < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')
             GROUP BY entity)
     ARRAY JOIN days AS active_day
     WHERE active_day >= toDate(fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC'))
     GROUP BY active_day`;
}

function splitSeries(window: MetricsWindow, rows: SplitRow[]): ActivitySplit {
  const pick = (value: (row: SplitRow) => number) =>
    fillSeries(
      window,
      rows.map((row) => [row.day, value(row)]),
    );
  return {
    total: pick((row) => Number(row.total)),
    new: pick((row) => Number(row.new)),
    retained: pick((row) => Number(row.retained)),
    reactivated: pick((row) => Number(row.total) - Number(row.new) - Number(row.retained)),
  };
}

async function queryRows<T>(
  engine: AnalyticsEngine,
  sql: string,
  params: Record<string, unknown>,
): Promise<T[]> {
  const { text } = await engine.query(sql, { params, format: "JSONEachRow" });
  return text
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as T);
}
