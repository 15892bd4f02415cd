import { defineRoute, json } from "../../http/route.ts";
import { cachedMetrics } from "./metrics.ts";
import { metricsQuery, metricsResponse } from "./schemas.ts";

export const metricsRoutes = [
  defineRoute({
    method: "GET",
    path: "/internal/metrics",
    summary: "Dashboard metrics of the project: users, activity, sign-in methods, analytics",
    hidden: true,
    tags: ["Metrics"],
    access: ["admin"],
    schemas: { query: metricsQuery, response: metricsResponse },
    handler: async ({ app, auth, query }) => {
      const { value, state } = await cachedMetrics(app, {
        tenancyId: auth.tenancy.id,
        projectId: auth.project.id,
        branchId: auth.tenancy.branchId,
        config: auth.tenancy.config,
        includeAnonymous: query.include_anonymous === "true",
      });
      // Tells a dashboard (and the benchmark) whether it got stored figures or fresh ones.
      return json(value, 200, { "x-latchkey-cache": state });
    },
  }),
];
