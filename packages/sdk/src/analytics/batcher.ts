import { type ConnectionOptions, postJson, type SendOptions } from "../transport.ts";

export interface BatcherOptions<T> {
  connection: ConnectionOptions;
  path: string;
  /** Wraps a batch's items in the request body; called once per batch (its batch id stays on retries). */
  body: (items: T[], batchId: string) => unknown;
  maxItems: number;
  /** Flush when the queued items' JSON reaches this many bytes. */
  maxBytes: number;
  flushIntervalMs: number;
  /** Items kept while the server cannot be reached; beyond it the oldest are dropped. */
  maxQueuedItems: number;
  /** Bytes a request sent while the page unloads may carry (browsers cap keepalive bodies at 64 KiB). */
  keepaliveBytes?: number;
}

interface PendingBatch {
  body: string;
  count: number;
}

const MAX_BACKOFF_MS = 30_000;

/**
 * A queue that ships items in batches: by count, by size and on a timer, one request at a time so
 * batches arrive in order. A failed batch is retried with exponential backoff (or the server's
 * `Retry-After`) with the same batch id; items queued meanwhile wait behind it. Nothing here throws
 * into the page.
 */
export class Batcher<T> {
  private queue: { item: T; bytes: number }[] = [];
  private queuedBytes = 0;
  private retrying: PendingBatch | null = null;
  private sending = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private backoffMs = 1000;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly options: BatcherOptions<T>,
    private readonly newBatchId: () => string,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.flushIntervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.timer = null;
    this.retryTimer = null;
  }

  add(item: T): void {
    let bytes: number;
    try {
      bytes = JSON.stringify(item).length;
    } catch {
      return; // not serialisable: nothing the server could store
    }
    this.queue.push({ item, bytes });
    this.queuedBytes += bytes;
    while (this.queue.length > this.options.maxQueuedItems) this.queuedBytes -= this.queue.shift()!.bytes;
    if (this.queue.length >= this.options.maxItems || this.queuedBytes >= this.options.maxBytes)
      void this.flush();
  }

  get pending(): number {
    return this.queue.length + (this.retrying?.count ?? 0);
  }

  /** Sends what is queued (in order, one request at a time) until the queue is empty or the server is down. */
  async flush(): Promise<void> {
    // While backing off, the timer's flushes wait for the scheduled retry.
    if (this.sending || this.retryTimer) return;
    this.sending = true;
    try {
      while (this.retrying || this.queue.length > 0) {
        const batch = this.retrying ?? this.takeBatch(this.options.maxItems, this.options.maxBytes);
        const { outcome, retryAfterMs } = await postJson(
          this.options.connection,
          this.options.path,
          batch.body,
        );
        if (outcome === "sent" || outcome === "rejected") {
          this.retrying = null;
          this.backoffMs = 1000;
          continue;
        }
        this.retrying = batch;
        if (outcome === "unavailable") this.scheduleRetry(retryAfterMs);
        return;
      }
    } finally {
      this.sending = false;
    }
  }

  /** The page is going away: send everything now with keepalive, in bodies small enough for it. */
  flushOnUnload(): void {
    const keepaliveBytes = this.options.keepaliveBytes ?? 60_000;
    const sends: PendingBatch[] = [];
    if (this.retrying) sends.push(this.retrying);
    this.retrying = null;
    while (this.queue.length > 0) sends.push(this.takeBatch(this.options.maxItems, keepaliveBytes));
    const options: SendOptions = { keepalive: true };
    for (const batch of sends) {
      void postJson(this.options.connection, this.options.path, batch.body, {
        keepalive: options.keepalive && batch.body.length <= keepaliveBytes,
      });
    }
  }

  private takeBatch(maxItems: number, maxBytes: number): PendingBatch {
    const items: T[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && items.length < maxItems) {
      const next = this.queue[0]!;
      if (items.length > 0 && bytes + next.bytes > maxBytes) break;
      this.queue.shift();
      this.queuedBytes -= next.bytes;
      bytes += next.bytes;
      items.push(next.item);
    }
    return { body: JSON.stringify(this.options.body(items, this.newBatchId())), count: items.length };
  }

  private scheduleRetry(retryAfterMs: number | null): void {
    if (this.retryTimer) return;
    const jitter = Math.random() * 250;
    const delay = Math.max(retryAfterMs ?? 0, this.backoffMs) + jitter;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.flush();
    }, delay);
  }
}
