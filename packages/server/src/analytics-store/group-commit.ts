import { type AnalyticsEngine, AnalyticsEngineError } from "./engine.ts";

/** Rows allowed to wait for the store, per table, before writes are refused (a few hundred MB at most). */
const DEFAULT_MAX_QUEUED_ROWS = 500_000;

interface PendingWrite {
  rows: string[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for one table. Concurrent callers' rows are coalesced into one INSERT: while an insert
 * is running, newly arriving rows wait and then all go in the next one. No timer is involved — a lone
 * caller is written at once — and every caller's promise settles only after the insert that carried its
 * rows finished, so acknowledging a request on it never acknowledges unwritten data.
 *
 * ClickHouse pays per insert far more than per row (a part on disk each), which is why 8 clients
 * sending 100 rows each go faster this way than 100-row inserts could.
 *
 * With `lingerMs`, a write that finds the inserter idle waits that long for company before it goes:
 * for rows nobody waits on (the server's own events), fewer, larger inserts at the price of that delay.
 *
 * At most `maxQueuedRows` wait: past that (the engine hanging rather than refusing), new writes are
 * refused at once as "store unavailable" instead of piling up in memory.
 */
export class GroupCommitInserter {
  private queue: PendingWrite[] = [];
  private queuedRows = 0;
  private writing = false;
  private draining: Promise<void> | null = null;

  constructor(
    private readonly engine: AnalyticsEngine,
    private readonly table: string,
    private readonly options: { maxRowsPerInsert?: number; lingerMs?: number; maxQueuedRows?: number } = {},
  ) {}

  /** `rows` are JSON objects serialised one per string. */
  write(rows: string[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    if (this.queuedRows + rows.length > (this.options.maxQueuedRows ?? DEFAULT_MAX_QUEUED_ROWS)) {
      return Promise.reject(
        new AnalyticsEngineError(`${this.table}: too many rows waiting for the analytics store`, null, true),
      );
    }
    this.queuedRows += rows.length;
    return new Promise((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      if (!this.writing) this.draining = this.drain();
    });
  }

  /** Waits until everything written so far is in the table (on shutdown). */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      const lingerMs = this.options.lingerMs ?? 0;
      while (this.queue.length > 0) {
        // Lingering before every insert, not only the first: under load an insert is always in flight,
        // and rows arriving meanwhile would otherwise go out the moment it returns, a few at a time.
        if (lingerMs > 0) await new Promise((resolve) => setTimeout(resolve, lingerMs));
        const group = this.takeGroup();
        await this.insertGroup(group);
      }
    } finally {
      this.writing = false;
      this.draining = null;
    }
  }

  private takeGroup(): PendingWrite[] {
    let rows = 0;
    let count = 0;
    while (
      count < this.queue.length &&
      (count === 0 || rows + this.queue[count]!.rows.length <= (this.options.maxRowsPerInsert ?? 100_000))
    ) {
      rows += this.queue[count]!.rows.length;
      count++;
    }
    this.queuedRows -= rows;
    return this.queue.splice(0, count);
  }

  private async insertGroup(group: PendingWrite[]): Promise<void> {
    try {
      await this.engine.insertJsonRows(this.table, group.flatMap((write) => write.rows).join("\n"));
      for (const write of group) write.resolve();
    } catch (error) {
      const storeDown = error instanceof AnalyticsEngineError && error.unavailable;
      if (group.length === 1 || storeDown) {
        for (const write of group) write.reject(error);
        return;
      }
      // Some caller's rows are what the engine refused: halves are retried until they are found, so
      // the others still land — a few inserts, not one per caller.
      const half = Math.ceil(group.length / 2);
      await this.insertGroup(group.slice(0, half));
      await this.insertGroup(group.slice(half));
    }
  }
}
