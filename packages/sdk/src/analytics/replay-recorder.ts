import { record } from "@rrweb/record";
import { type ConnectionOptions, uuid } from "../transport.ts";
import { Batcher } from "./batcher.ts";
import { safely } from "./tracker.ts";

export interface ReplayRecorderOptions extends ConnectionOptions {
  /** Mask what is typed into every input (default true: recordings never hold passwords or card numbers). */
  maskAllInputs?: boolean;
  /** Elements with this class (or matching this selector) are recorded as empty boxes. */
  blockClass?: string;
  blockSelector?: string;
  /** Share of browser sessions recorded, 0–1 (default 1); decided once per browser session. */
  sampleRate?: number;
  /** Flush at this many rrweb events (default 200), bytes (default 512,000) or interval (default 5 s). */
  maxBatchEvents?: number;
  maxBatchBytes?: number;
  flushIntervalMs?: number;
}

export interface ReplayRecorder {
  /** Whether this browser session is being recorded (false when sampled out). */
  readonly recording: boolean;
  flush(): Promise<void>;
  stop(): void;
}

interface BrowserSession {
  session_id: string;
  created_at_ms: number;
  last_activity_ms: number;
  sampled_in: boolean;
}

/** A browser session ends after this long without recorded activity; the next one starts a new replay. */
const IDLE_TIMEOUT_MS = 3 * 60 * 1000;

/**
 * The session-replay recorder: rrweb's recorder, batched to `POST /session-replays/batch`. Inputs are
 * masked by default. The browser session lives in localStorage so that reloads and tabs continue it.
 */
export function createReplayRecorder(options: ReplayRecorderOptions): ReplayRecorder {
  const storageKey = `latchkey:session-replay:v1:${options.projectId}`;
  const sampleRate = Math.min(1, Math.max(0, options.sampleRate ?? 1));
  let session = currentSession(storageKey, sampleRate, Date.now());
  if (!session.sampled_in) return { recording: false, flush: async () => {}, stop: () => {} };

  const segmentId = uuid();
  const batcher = new Batcher<unknown>(
    {
      connection: options,
      path: "/session-replays/batch",
      body: (events, batchId) => ({
        browser_session_id: session.session_id,
        session_replay_segment_id: segmentId,
        batch_id: batchId,
        started_at_ms: session.created_at_ms,
        sent_at_ms: Date.now(),
        events,
      }),
      maxItems: Math.min(options.maxBatchEvents ?? 200, 5000),
      maxBytes: options.maxBatchBytes ?? 512_000,
      flushIntervalMs: options.flushIntervalMs ?? 5000,
      maxQueuedItems: 20_000,
    },
    uuid,
  );

  let lastPersisted = 0;
  const stopRecording = record({
    maskAllInputs: options.maskAllInputs ?? true,
    blockClass: options.blockClass,
    blockSelector: options.blockSelector,
    emit: (event) =>
      safely(() => {
        const now = Date.now();
        if (now - session.last_activity_ms > IDLE_TIMEOUT_MS) {
          // A new browser session must begin with a full snapshot, or its replay could not be played.
          session = newSession(sampleRate, now);
          save(storageKey, session);
          batcher.add(event);
          record.takeFullSnapshot(true);
          return;
        }
        session.last_activity_ms = now;
        if (now - lastPersisted > 5000) {
          lastPersisted = now;
          save(storageKey, session);
        }
        batcher.add(event);
      }),
  });

  const onHide = () => safely(() => batcher.flushOnUnload());
  const onVisibility = () => {
    if (document.visibilityState === "hidden") onHide();
  };
  window.addEventListener("pagehide", onHide);
  document.addEventListener("visibilitychange", onVisibility);
  batcher.start();

  return {
    recording: true,
    flush: () => batcher.flush(),
    stop: () =>
      safely(() => {
        stopRecording?.();
        window.removeEventListener("pagehide", onHide);
        document.removeEventListener("visibilitychange", onVisibility);
        batcher.stop();
        batcher.flushOnUnload();
      }),
  };
}

function currentSession(key: string, sampleRate: number, now: number): BrowserSession {
  try {
    const stored = JSON.parse(localStorage.getItem(key) ?? "null") as BrowserSession | null;
    if (stored && typeof stored.session_id === "string" && now - stored.last_activity_ms <= IDLE_TIMEOUT_MS) {
      return stored;
    }
  } catch {
    // Unreadable or unavailable storage: start afresh.
  }
  const session = newSession(sampleRate, now);
  save(key, session);
  return session;
}

const newSession = (sampleRate: number, now: number): BrowserSession => ({
  session_id: uuid(),
  created_at_ms: now,
  last_activity_ms: now,
  sampled_in: Math.random() < sampleRate,
});

function save(key: string, session: BrowserSession): void {
  try {
    localStorage.setItem(key, JSON.stringify(session));
  } catch {
    // Private mode or full storage: the session simply does not outlive this page.
  }
}
