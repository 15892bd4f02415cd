import { type ConnectionOptions, uuid } from "../transport.ts";
import { Batcher } from "./batcher.ts";
import { linkOf, selectorOf, textOf } from "./selectors.ts";

export interface TrackerOptions extends ConnectionOptions {
  /** Record page views, including SPA navigations through the History API (default true). */
  pageViews?: boolean;
  /** Record clicks (default true). */
  clicks?: boolean;
  /** Flush at this many events (default 50) … */
  maxBatchEvents?: number;
  /** … or this many bytes of events (default 60,000: small enough for a keepalive request) … */
  maxBatchBytes?: number;
  /** … or this often (default 10 s). */
  flushIntervalMs?: number;
  /** Events kept while offline or signed out (default 5,000); the oldest go first. */
  maxQueuedEvents?: number;
}

export interface TrackedEvent {
  event_type: string;
  event_at_ms: number;
  data: unknown;
}

export interface EventTracker {
  /** Records a custom event under its own name (names starting with `$` are reserved). */
  track(name: string, data?: Record<string, unknown>): void;
  /** Sends what is queued now. */
  flush(): Promise<void>;
  /** Stops recording, restores the History API and sends what is left. */
  stop(): void;
  /** This page load's segment id (sent with every batch). */
  readonly segmentId: string;
}

type HistoryMethod = "pushState" | "replaceState";

/**
 * The analytics tracker: page views and clicks, batched to `POST /analytics/events/batch`. It attaches
 * events to whoever the app says is signed in (`getAccessToken`) and never signs anyone up itself.
 * Every listener is wrapped so that nothing it does can throw into the page.
 */
export function createEventTracker(options: TrackerOptions): EventTracker {
  const segmentId = uuid();
  const batcher = new Batcher<TrackedEvent>(
    {
      connection: options,
      path: "/analytics/events/batch",
      body: (events, batchId) => ({
        session_replay_segment_id: segmentId,
        batch_id: batchId,
        sent_at_ms: Date.now(),
        events,
      }),
      maxItems: Math.min(options.maxBatchEvents ?? 50, 500),
      maxBytes: options.maxBatchBytes ?? 60_000,
      flushIntervalMs: options.flushIntervalMs ?? 10_000,
      maxQueuedItems: options.maxQueuedEvents ?? 5000,
    },
    uuid,
  );
  const record = (event_type: string, data: unknown) =>
    safely(() => batcher.add({ event_type, event_at_ms: Date.now(), data }));

  let lastUrl: string | null = null;
  const pageView = (entryType: "initial" | "push" | "replace" | "pop") =>
    safely(() => {
      const url = location.href;
      if (entryType !== "initial" && url === lastUrl) return;
      lastUrl = url;
      record("$page-view", {
        url,
        path: location.pathname,
        referrer: document.referrer,
        title: document.title,
        entry_type: entryType,
        viewport_width: window.innerWidth,
        viewport_height: window.innerHeight,
        screen_width: window.screen?.width ?? null,
        screen_height: window.screen?.height ?? null,
      });
    });

  const onClick = (event: MouseEvent) =>
    safely(() => {
      const target = event.target;
      if (!(target instanceof Element)) return;
      record("$click", {
        tag_name: target.tagName.toLowerCase(),
        text: textOf(target),
        href: linkOf(target),
        selector: selectorOf(target),
        x: event.clientX,
        y: event.clientY,
        page_x: event.pageX,
        page_y: event.pageY,
        viewport_width: window.innerWidth,
        viewport_height: window.innerHeight,
      });
    });
  const onPop = () => pageView("pop");
  const onHide = () => safely(() => batcher.flushOnUnload());
  const onVisibility = () => {
    if (document.visibilityState === "hidden") onHide();
  };

  const originals = new Map<HistoryMethod, History[HistoryMethod]>();
  if (options.pageViews !== false) {
    for (const method of ["pushState", "replaceState"] as const) {
      const original = history[method];
      originals.set(method, original);
      history[method] = function (this: History, ...args: Parameters<History[HistoryMethod]>) {
        const result = original.apply(this, args);
        pageView(method === "pushState" ? "push" : "replace");
        return result;
      };
    }
    window.addEventListener("popstate", onPop);
    pageView("initial");
  }
  if (options.clicks !== false) document.addEventListener("click", onClick, true);
  window.addEventListener("pagehide", onHide);
  document.addEventListener("visibilitychange", onVisibility);
  batcher.start();

  return {
    segmentId,
    track: (name, data = {}) => {
      if (typeof name !== "string" || name.length === 0 || name.startsWith("$")) {
        console.warn(
          `[latchkey] track(): "${name}" is not a custom event name (non-empty, not starting with "$")`,
        );
        return;
      }
      record(name.slice(0, 200), data);
    },
    flush: () => batcher.flush(),
    stop: () =>
      safely(() => {
        for (const [method, original] of originals) history[method] = original as never;
        window.removeEventListener("popstate", onPop);
        document.removeEventListener("click", onClick, true);
        window.removeEventListener("pagehide", onHide);
        document.removeEventListener("visibilitychange", onVisibility);
        batcher.stop();
        batcher.flushOnUnload();
      }),
  };
}

/** Runs tracking code so that a bug in it can never break the page. */
export function safely(work: () => void): void {
  try {
    work();
  } catch (error) {
    console.warn("[latchkey] analytics error", error);
  }
}
