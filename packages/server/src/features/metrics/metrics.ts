import { AnalyticsEngineError } from "../../analytics-store/index.ts";
import type { AppContext } from "../../app-context.ts";
import type { CacheResult } from "../../cache/index.ts";
import { type ActivityMetrics, activityMetrics } from "./activity-metrics.ts";
import type { EmailOverview, MetricsResponse, PaymentsOverview } from "./schemas.ts";
import {
  credentialCounts,
  dailySignUps,
  loginMethods,
  type MetricsScope,
  recentlyActive,
  recentlyRegistered,
  replayStats,
  teamCount,
  userCounts,
} from "./user-metrics.ts";
import { fillSeries, type MetricsWindow, metricsWindow, round } from "./window.ts";

const CACHE_NAMESPACE = "metrics";
/** A computed dashboard is answered as is for a minute… */
const FRESH_MS = 60_000;
/** …then, for a day, answered at once while one process recomputes it behind the answer. */
const STALE_MS = 24 * 60 * 60 * 1000;

/**
 * The dashboard metrics of a tenancy, through the shared cache: at most one process computes a
 * tenancy's metrics at a time, and a dashboard opened after the first minute gets the previous figures
 * at once while they are refreshed. Deleting a user drops the tenancy's cached figures.
 */
export function cachedMetrics(app: AppContext, scope: MetricsScope): Promise<CacheResult<MetricsResponse>> {
  return app.cache.getOrSet({
    namespace: CACHE_NAMESPACE,
    key: `${scope.tenancyId}:${scope.includeAnonymous ? "anon" : "non_anon"}`,
    tenancyId: scope.tenancyId,
    freshMs: FRESH_MS,
    staleMs: STALE_MS,
    load: () => computeMetrics(app, scope, metricsWindow(Date.now())),
  });
}

/** Computes every section; the PostgreSQL and analytics-store parts run in parallel. */
export async function computeMetrics(
  app: AppContext,
  scope: MetricsScope,
  window: MetricsWindow,
): Promise<MetricsResponse> {
  const db = app.database.db;
  const [counts, credentials, signUps, teams, registered, active, replays, activity] = await Promise.all([
    userCounts(db, scope.tenancyId),
    credentialCounts(db, scope.tenancyId),
    dailySignUps(db, scope, window),
    teamCount(db, scope.tenancyId),
    recentlyRegistered(db, scope),
    recentlyActive(db, scope),
    replayStats(db, scope.tenancyId, window),
    activityMetrics(app.analytics.engine, scope, window).catch((error) => {
      // The analytics store being down or refusing a query leaves its figures empty; the rest stands.
      if (!(error instanceof AnalyticsEngineError)) throw error;
      app.log(`metrics: analytics queries failed, their figures are empty: ${error.message}`);
      return emptyActivity(window);
    }),
  ]);
  const methods = loginMethods(credentials, counts);
  const totalUsersFiltered = scope.includeAnonymous ? counts.regular + counts.anonymous : counts.regular;

  return {
    total_users: totalUsersFiltered,
    daily_users: signUps,
    daily_active_users: activity.dailyActiveUsers,
    users_by_country: activity.usersByCountry,
    recently_registered: registered,
    recently_active: active,
    login_methods: methods,
    auth_overview: {
      verified_users: counts.verified,
      unverified_users: counts.regular - counts.verified,
      anonymous_users: counts.anonymous,
      total_teams: teams,
      total_users_filtered: totalUsersFiltered,
      mau: activity.monthlyActiveUsers,
      daily_active_users_split: activity.activeUsersSplit,
      daily_active_teams_split: activity.activeTeamsSplit,
    },
    payments_overview: noPayments(window),
    email_overview: noEmails(window),
    analytics_overview: {
      daily_page_views: activity.dailyPageViews,
      daily_clicks: activity.dailyClicks,
      daily_visitors: activity.dailyVisitors,
      visitors: activity.visitors,
      top_referrers: activity.topReferrers,
      top_region: activity.topRegion,
      online_live: activity.onlineLive,
      total_replays: replays.total,
      recent_replays: replays.recent,
      avg_session_seconds: round(replays.avg_seconds ?? 0, 1),
      // No payments yet, so no revenue.
      total_revenue_cents: 0,
      revenue_per_visitor: 0,
      daily_revenue: window.days.map((date) => ({ date, new_cents: 0, refund_cents: 0 })),
    },
  };
}

function emptyActivity(window: MetricsWindow): ActivityMetrics {
  const zeros = fillSeries(window, []);
  const split = { total: zeros, new: zeros, retained: zeros, reactivated: zeros };
  return {
    dailyActiveUsers: zeros,
    monthlyActiveUsers: 0,
    usersByCountry: {},
    activeUsersSplit: split,
    activeTeamsSplit: split,
    onlineLive: 0,
    topRegion: null,
    dailyPageViews: zeros,
    dailyClicks: zeros,
    dailyVisitors: zeros,
    visitors: 0,
    topReferrers: [],
  };
}

/** The payments section's shape with nothing in it: Latchkey has no payments feature yet. */
function noPayments(window: MetricsWindow): PaymentsOverview {
  return {
    subscriptions_by_status: {},
    active_subscription_count: 0,
    total_one_time_purchases: 0,
    daily_subscriptions: fillSeries(window, []),
    revenue_cents: 0,
    mrr_cents: 0,
    total_orders: 0,
    checkout_conversion_rate: 0,
  };
}

/** The e-mail section's shape with nothing in it: delivery tracking does not exist yet. */
function noEmails(window: MetricsWindow): EmailOverview {
  return {
    emails_by_status: {},
    total_emails: 0,
    daily_emails: fillSeries(window, []),
    daily_emails_by_status: window.days.map((date) => ({ date, ok: 0, error: 0, in_progress: 0 })),
    emails_sent: 0,
    recent_emails: [],
    deliverability_status: { delivered: 0, bounced: 0, error: 0, in_progress: 0 },
    deliverability_rate: 0,
    bounce_rate: 0,
    click_rate: 0,
  };
}
