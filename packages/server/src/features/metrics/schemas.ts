import Type, { type Static } from "typebox";

const booleanString = Type.Union([Type.Literal("true"), Type.Literal("false")]);

export const metricsQuery = Type.Object(
  { include_anonymous: Type.Optional(booleanString) },
  { additionalProperties: false },
);

const count = Type.Integer({ minimum: 0 });
const countsByKey = Type.Record(Type.String(), count);

/** One day of a series: `date` is `YYYY-MM-DD` (UTC). */
export const dataPoint = Type.Object({ date: Type.String(), activity: count });
const series = Type.Array(dataPoint);
const activitySplit = Type.Object({ total: series, new: series, retained: series, reactivated: series });
/** Users are the admin user objects of `GET /users`. */
const userObjects = Type.Array(Type.Record(Type.String(), Type.Unknown()));

export const authOverview = Type.Object({
  verified_users: count,
  unverified_users: count,
  anonymous_users: count,
  total_teams: count,
  total_users_filtered: count,
  mau: count,
  daily_active_users_split: activitySplit,
  daily_active_teams_split: activitySplit,
});

export const paymentsOverview = Type.Object({
  subscriptions_by_status: countsByKey,
  active_subscription_count: count,
  total_one_time_purchases: count,
  daily_subscriptions: series,
  revenue_cents: count,
  mrr_cents: count,
  total_orders: count,
  checkout_conversion_rate: Type.Number(),
});

export const emailOverview = Type.Object({
  emails_by_status: countsByKey,
  total_emails: count,
  daily_emails: series,
  daily_emails_by_status: Type.Array(
    Type.Object({ date: Type.String(), ok: count, error: count, in_progress: count }),
  ),
  emails_sent: count,
  recent_emails: Type.Array(
    Type.Object({
      id: Type.String(),
      status: Type.String(),
      subject: Type.String(),
      created_at_millis: Type.Number(),
    }),
  ),
  deliverability_status: Type.Object({ delivered: count, bounced: count, error: count, in_progress: count }),
  deliverability_rate: Type.Number(),
  bounce_rate: Type.Number(),
  click_rate: Type.Number(),
});

export const topRegion = Type.Object({
  country_code: Type.Union([Type.String(), Type.Null()]),
  region_code: Type.Union([Type.String(), Type.Null()]),
  count,
});

export const analyticsOverview = Type.Object({
  daily_page_views: series,
  daily_clicks: series,
  daily_visitors: series,
  visitors: count,
  top_referrers: Type.Array(Type.Object({ referrer: Type.String(), visitors: count })),
  top_region: Type.Union([topRegion, Type.Null()]),
  online_live: count,
  total_replays: count,
  recent_replays: count,
  avg_session_seconds: Type.Number(),
  total_revenue_cents: count,
  revenue_per_visitor: Type.Number(),
  daily_revenue: Type.Array(Type.Object({ date: Type.String(), new_cents: count, refund_cents: count })),
});

export const metricsResponse = Type.Object({
  total_users: count,
  daily_users: series,
  daily_active_users: series,
  users_by_country: countsByKey,
  recently_registered: userObjects,
  recently_active: userObjects,
  login_methods: Type.Array(Type.Object({ method: Type.String(), count })),
  auth_overview: authOverview,
  payments_overview: paymentsOverview,
  email_overview: emailOverview,
  analytics_overview: analyticsOverview,
});

export type DataPoint = Static<typeof dataPoint>;
export type ActivitySplit = Static<typeof activitySplit>;
export type TopRegion = Static<typeof topRegion>;
export type MetricsResponse = Static<typeof metricsResponse>;
export type PaymentsOverview = Static<typeof paymentsOverview>;
export type EmailOverview = Static<typeof emailOverview>;
