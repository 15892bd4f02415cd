import type { AnalyticsEngine } from "../../analytics-store/index.ts";
import type { ActivitySplit, DataPoint, TopRegion } from "./schemas.ts";
import type { MetricsScope } from "./user-metrics.ts";
import { fillSeries, type MetricsWindow, SERIES_DAYS } from "./window.ts";

/**
 * The activity half of the metrics, read from the analytics store's events. Activity is the
 * `$token-refresh` event every issued access token writes (with the user's selected team and the
 * request's geo); page views and clicks come from the browser tracker.
 *
 * Unlike upstream, users deleted since (a `$user-deleted` event) do not count as active, and team
 * activity counts real team ids. Anonymous activity is told by each event's own `is_anonymous`.
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
const SINCE = `fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')`;
const UNTIL = `fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')`;
const IN_WINDOW = `event_at >= ${SINCE} AND event_at < ${UNTIL}`;
const REFRESH = `event_type = '$token-refresh'`;
const COUNTRY = `data.ip_info.country_code::Nullable(String)`;

/**
 * Users are grouped and counted by the 64-bit hash of their id each event stores: reading and
 * comparing 8 bytes is several times cheaper than 36-character strings at millions of rows, and a
 * collision among a million ids has a probability of about 3·10⁻⁸.
 */
const USER = `user_hash`;

/** Deleted users (few): their activity stops counting, all of it. */
const DELETED_USERS = `deleted_users AS (
  SELECT ${USER} FROM analytics_internal.events
   WHERE ${SCOPE} AND event_type = '$user-deleted' AND user_id IS NOT NULL
)`;

/**
 * An event counts when it has a user who is not deleted and, unless asked for, was not anonymous when
 * it was written (each row says so: no lookup of any user's state).
 */
const SHOWN = `user_id IS NOT NULL AND NOT ({exclude_anonymous:Bool} AND is_anonymous)
  AND ${USER} NOT IN deleted_users`;
const SHOWN_REFRESHES = `analytics_internal.events WHERE ${SCOPE} AND ${REFRESH} AND ${SHOWN}`;

/**
 * Active days as a bit mask: bit 0 is the day before the window, bit k + 1 day k of it. A mask per
 * user (or team) is far cheaper to aggregate than an array of dates. The shift is clamped because
 * -If evaluates its argument on every row, also on those it then skips.
 */
const ACTIVE_DAYS = `groupBitOrIf(
    bitShiftLeft(toUInt64(1), greatest(0, least(63, dateDiff('day', toDate(${SINCE}) - 1, toDate(event_at))))),
    event_at >= ${SINCE} - INTERVAL 1 DAY AND event_at < ${UNTIL})`;
const FIRST_DAY = `dateDiff('day', toDate(${SINCE}), minIf(toDate(event_at), event_at < ${UNTIL}))`;

/** Per day of the window: active, first active that day (new), active the day before too (retained). */
const SPLIT_SERIES = `
  sumForEach(arrayMap(k -> toUInt64(bitTest(days, k + 1)), range(${SERIES_DAYS}))) AS total,
  sumForEach(arrayMap(k -> toUInt64(bitTest(days, k + 1) AND first_day = k), range(${SERIES_DAYS}))) AS new,
  sumForEach(arrayMap(k -> toUInt64(bitTest(days, k + 1) AND bitTest(days, k) AND first_day != k),
                      range(${SERIES_DAYS}))) AS retained`;

/** The token-refresh figures, from one grouping of the shown users' refreshes of all time. */
const USER_FIGURES = `WITH ${DELETED_USERS}
  SELECT ${SPLIT_SERIES},
         countIf(days > 1) AS mau, -- active on a day of the window (bit 0 alone is the day before)
         countIf(last_refresh >= fromUnixTimestamp64Milli({online_since_ms:Int64}, 'UTC')) AS online,
         sumMapIf([assumeNotNull(country)], [toUInt64(1)], country IS NOT NULL) AS countries
    FROM (SELECT ${USER} AS user, ${FIRST_DAY} AS first_day, ${ACTIVE_DAYS} AS days,
                 maxIf(event_at, event_at < ${UNTIL}) AS last_refresh,
                 argMaxIf(${COUNTRY}, event_at, ${COUNTRY} IS NOT NULL) AS country
            FROM ${SHOWN_REFRESHES}
           GROUP BY user)`;

/** The same split for teams: a team is active on a day one of its shown users refreshed a token in. */
const TEAM_FIGURES = `WITH ${DELETED_USERS}
  SELECT ${SPLIT_SERIES}
    FROM (SELECT team_id, ${FIRST_DAY} AS first_day, ${ACTIVE_DAYS} AS days
            FROM ${SHOWN_REFRESHES} AND team_id IS NOT NULL
           GROUP BY team_id)`;

const TOP_REGION = `WITH ${DELETED_USERS}
  SELECT ${COUNTRY} AS country_code, data.ip_info.region_code::Nullable(String) AS region_code,
         uniqExact(${USER}) AS count
    FROM ${SHOWN_REFRESHES} AND ${IN_WINDOW}
   GROUP BY country_code, region_code
   ORDER BY count DESC, country_code, region_code
   LIMIT 1`;

/**
 * The browsing figures in one read of the window's page views and clicks, one grouping set each:
 * per day (page views, clicks, visitors), per referrer (visitors; the top 100 come back), and the
 * whole window (visitors). `grouping()` is 1 for a column the row's set does not group by.
 */
const BROWSING = `WITH ${DELETED_USERS}
  SELECT grouping(day) = 0 AS by_day, grouping(page_referrer) = 0 AS by_referrer, toString(day) AS day_key,
         page_referrer AS referrer, countIf(event_type = '$page-view') AS page_views,
         countIf(event_type = '$click') AS clicks, uniqExactIf(${USER}, event_type = '$page-view') AS visitors
    FROM (SELECT event_type, ${USER}, toDate(event_at) AS day,
                 if(event_type = '$page-view', referrer, '') AS page_referrer
            FROM analytics_internal.events
           WHERE ${SCOPE} AND event_type IN ('$page-view', '$click') AND ${IN_WINDOW} AND ${SHOWN})
   GROUP BY GROUPING SETS ((day), (page_referrer), ())
   ORDER BY by_day, by_referrer, visitors DESC, referrer
   LIMIT 100 BY by_day, by_referrer`;

interface BrowsingRow {
  by_day: boolean | number;
  by_referrer: boolean | number;
  day_key: string;
  referrer: string;
  page_views: Count;
  clicks: Count;
  visitors: Count;
}

type Count = string | number;
type Series = Count[];

interface UserFiguresRow {
  total: Series;
  new: Series;
  retained: Series;
  mau: Count;
  online: Count;
  /** `(countries, users)` as ClickHouse's `sumMap` returns it. */
  countries: [string[], Count[]];
}

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
  };
  const rows = <T>(sql: string) => queryRows<T>(engine, sql, params);
  const [[users], [teams], regions, browsingRows] = await Promise.all([
    rows<UserFiguresRow>(USER_FIGURES),
    rows<SplitRow>(TEAM_FIGURES),
    rows<TopRegion>(TOP_REGION),
    rows<BrowsingRow>(BROWSING),
  ]);
  if (!users || !teams) throw new Error("The activity queries returned no row");

  const browsing = browsingRows.filter((row) => row.by_day);
  const referrers = browsingRows.filter((row) => row.by_referrer && Number(row.visitors) > 0);
  const visitors = browsingRows.find((row) => !row.by_day && !row.by_referrer);
  const byDay = (pick: (row: (typeof browsing)[number]) => Count) =>
    fillSeries(
      window,
      browsing.map((row) => [row.day_key, Number(pick(row))]),
    );
  const [countries, userCounts] = users.countries;
  return {
    dailyActiveUsers: windowSeries(window, users.total),
    monthlyActiveUsers: Number(users.mau),
    onlineLive: Number(users.online),
    usersByCountry: Object.fromEntries(
      countries.map((country, index) => [country, Number(userCounts[index])]),
    ),
    activeUsersSplit: splitSeries(window, users),
    activeTeamsSplit: splitSeries(window, teams),
    topRegion: regions[0] ? { ...regions[0], count: Number(regions[0].count) } : null,
    dailyPageViews: byDay((row) => row.page_views),
    dailyClicks: byDay((row) => row.clicks),
    dailyVisitors: byDay((row) => row.visitors),
    visitors: Number(visitors?.visitors ?? 0),
    topReferrers: referrers.map((row) => ({
      referrer: row.referrer === "" ? "(direct)" : row.referrer,
      visitors: Number(row.visitors),
    })),
  };
}

interface SplitRow {
  total: Series;
  new: Series;
  retained: Series;
}

/** A series given as one value per day of the window (ClickHouse's `sumForEach` of an empty set is []). */
const windowSeries = (window: MetricsWindow, values: Series) =>
  fillSeries(
    window,
    window.days.map((day, index) => [day, Number(values[index] ?? 0)]),
  );

function splitSeries(window: MetricsWindow, split: SplitRow): ActivitySplit {
  const at = (values: Series, index: number) => Number(values[index] ?? 0);
  return {
    total: windowSeries(window, split.total),
    new: windowSeries(window, split.new),
    retained: windowSeries(window, split.retained),
    reactivated: windowSeries(
      window,
      window.days.map((_, i) => at(split.total, i) - at(split.new, i) - at(split.retained, i)),
    ),
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
