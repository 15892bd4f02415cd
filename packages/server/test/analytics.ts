import { randomUUID } from "node:crypto";
import {
  type ApiResponse,
  adminHeaders,
  api,
  clientHeaders,
  patchEnvironmentConfig,
  type TestProject,
  type TestServer,
} from "./server.ts";

export const enableAnalytics = (test: TestServer, project: TestProject) =>
  patchEnvironmentConfig(test, project, { "apps.installed.analytics": { enabled: true } });

export interface BrowserEvent {
  event_type: string;
  event_at_ms: number;
  data: unknown;
}

export const pageView = (path = "/", extra: Record<string, unknown> = {}): BrowserEvent => ({
  event_type: "$page-view",
  event_at_ms: Date.now(),
  data: {
    url: `https://app.example.com${path}`,
    path,
    referrer: "",
    title: "Example",
    entry_type: "initial",
    viewport_width: 1280,
    viewport_height: 720,
    screen_width: 1920,
    screen_height: 1080,
    ...extra,
  },
});

export const click = (text = "Buy"): BrowserEvent => ({
  event_type: "$click",
  event_at_ms: Date.now(),
  data: {
    tag_name: "button",
    text,
    href: null,
    selector: "button#buy",
    x: 10,
    y: 20,
    page_x: 10,
    page_y: 20,
  },
});

/** Posts an events batch as the browser tracker does (client access, anonymous users allowed). */
export function postEvents(
  test: TestServer,
  project: TestProject,
  accessToken: string | undefined,
  events: BrowserEvent[],
  segmentId: string = randomUUID(),
  body: Record<string, unknown> = {},
): Promise<ApiResponse> {
  return api(test.url, "/api/v1/analytics/events/batch", {
    method: "POST",
    headers: clientHeaders(project, accessToken, { "x-stack-allow-anonymous-user": "true" }),
    body: {
      session_replay_segment_id: segmentId,
      batch_id: randomUUID(),
      sent_at_ms: Date.now(),
      events,
      ...body,
    },
  });
}

export function queryAnalytics(
  test: TestServer,
  project: TestProject,
  query: string,
  options: { params?: Record<string, unknown>; timeout_ms?: number } = {},
): Promise<ApiResponse> {
  return api(test.url, "/api/v1/internal/analytics/query", {
    method: "POST",
    headers: adminHeaders(project),
    body: { query, ...options },
  });
}
