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
 *
 * The browsing figures (page views, clicks, visitors, referrers) are traffic as it happened: they come
 * from the per-day rollup `daily_browsing` (see its migration), and a visit stays counted when its user
 * is deleted later, as in any web analytics tool. Their visitor counts are estimates within about 1 %
 * beyond a thousand visitors, exact below.
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

/**
 * Per day of the window: active (a bit of the mask), first active that day (new), active the day before
 * too (retained: a bit of `days AND days << 1`; never a first day, which has no activity before it).
 * Each is a map from bit (day + 1; for new, day) to entities, summed over the bits that are set only:
 * a user is active on a few days of a month, so this adds a few numbers per user, not 31 per series.
 */
const SPLIT_SERIES = `
  sumMap(bitPositionsToArray(days), arrayWithConstant(bitCount(days), toUInt64(1))) AS total,
  sumMapIf([toUInt8(first_day)], [toUInt64(1)], first_day BETWEEN 0 AND ${SERIES_DAYS - 1}) AS new,
  sumMap(bitPositionsToArray(bitAnd(days, bitShiftLeft(days, 1))),
         arrayWithConstant(bitCount(bitAnd(days, bitShiftLeft(days, 1))), toUInt64(1))) AS retained`;

/** The token-refresh figures, from one grouping of the shown users' refreshes of all time. */
const USER_FIGURES = `WITH ${DELETED_USERS}
  SELECT ${SPLIT_SERIES},
         countIf(days > 1) AS mau, -- active on a day of the window (bit 0 alone is the day before)
         countIf(last_refresh >= fromUnixTimestamp64Milli({online_since_ms:Int64}, 'UTC')) AS online,
         sumMapIf([assumeNotNull(country)], [toUInt64(1)], country IS NOT NULL) AS countries
    FROM (SELECT ${USER} AS user, ${FIRST_DAY} AS first_day, ${ACTIVE_DAYS} AS days,
                 maxIf(event_at, event_at < ${UNTIL}) AS last_refresh,
                 argMaxIf(country_code, event_at, country_code IS NOT NULL) AS country
            FROM ${SHOWN_REFRESHES}
           GROUP BY user)`;

/** The same split for teams: a team is active on a day one of its shown users refreshed a token in. */
const TEAM_FIGURES = `WITH ${DELETED_USERS}
  SELECT ${SPLIT_SERIES}
    FROM (SELECT team_id, ${FIRST_DAY} AS first_day, ${ACTIVE_DAYS} AS days
            FROM ${SHOWN_REFRESHES} AND team_id IS NOT NULL
           GROUP BY team_id)`;

const TOP_REGION = `WITH ${DELETED_USERS}
  SELECT country_code, region_code, uniqExact(${USER}) AS count
    FROM ${SHOWN_REFRESHES} AND ${IN_WINDOW}
   GROUP BY country_code, region_code
   ORDER BY count DESC, country_code, region_code
   LIMIT 1`;

/**
 * The browsing figures in one read of the window's rollup rows, one grouping set each: per day (page
 * views, clicks, visitors), per referrer (visitors; the top 100 come back), and the whole window
 * (visitors). `grouping()` is 1 for a column the row's set does not group by. Click rows carry the
 * referrer '' and no visitors.
 */
const BROWSING = `
  SELECT grouping(day) = 0 AS by_day, grouping(referrer) = 0 AS by_referrer, toString(day) AS day_key,
         referrer, sum(page_views) AS page_views, sum(clicks) AS clicks,
         uniqCombined64Merge(14)(visitors) AS visitors
    FROM analytics_internal.daily_browsing
   WHERE ${SCOPE} AND day >= toDate(${SINCE}) AND day < toDate(${UNTIL})
     AND NOT ({exclude_anonymous:Bool} AND is_anonymous)
   GROUP BY GROUPING SETS ((day), (referrer), ())
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
/** `(keys, values)`, as ClickHouse's `sumMap` returns it. */
type CountMap<Key> = [Key[], Count[]];

/** The split's maps: `total` and `retained` keyed by bit (day + 1), `new` by day. */
interface SplitRow {
  total: CountMap<number>;
  new: CountMap<number>;
  retained: CountMap<number>;
}

interface UserFiguresRow extends SplitRow {
  mau: Count;
  online: Count;
  countries: CountMap<string>;
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
  const activeUsersSplit = splitSeries(window, users);
  return {
    dailyActiveUsers: activeUsersSplit.total,
    monthlyActiveUsers: Number(users.mau),
    onlineLive: Number(users.online),
    usersByCountry: Object.fromEntries(
      countries.map((country, index) => [country, Number(userCounts[index])]),
    ),
    activeUsersSplit,
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

/** Day `k` of the window's value in a map keyed by `k + offset`. */
function perDay(map: CountMap<number>, offset: number): number[] {
  const [keys, values] = map;
  const byKey = new Map(keys.map((key, index) => [Number(key), Number(values[index])]));
  return Array.from({ length: SERIES_DAYS }, (_, day) => byKey.get(day + offset) ?? 0);
}

function splitSeries(window: MetricsWindow, split: SplitRow): ActivitySplit {
  const total = perDay(split.total, 1);
  const fresh = perDay(split.new, 0);
  const retained = perDay(split.retained, 1);
  const series = (values: number[]) =>
    fillSeries(
      window,
      window.days.map((day, index) => [day, values[index] ?? 0]),
    );
  return {
    total: series(total),
    new: series(fresh),
    retained: series(retained),
    reactivated: series(total.map((active, day) => active - fresh[day]! - retained[day]!)),
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
