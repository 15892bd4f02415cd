import pg from "pg";

type Handler = (payload: string) => void;

/**
 * One dedicated connection per process that LISTENs for change notifications (sent by triggers, so
 * every writer is covered) and fans them out to in-memory caches. While the connection is down a
 * notification can be missed, so on every (re)connect subscribers are told to forget everything.
 */
export class ChangeListener {
  private client: pg.Client | null = null;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly resetHandlers = new Set<() => void>();
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(private readonly connectionString: string) {}

  async start(): Promise<void> {
    await this.connect();
  }

  on(channel: string, handler: Handler): void {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      this.client?.query(`LISTEN ${pg.escapeIdentifier(channel)}`).catch(() => {});
    }
    set.add(handler);
  }

  onReset(handler: () => void): void {
    this.resetHandlers.add(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: "latchkey-listen",
    });
    client.on("notification", (message) => {
      for (const handler of this.handlers.get(message.channel) ?? []) handler(message.payload ?? "");
    });
    client.on("error", () => this.scheduleReconnect(client));
    client.on("end", () => this.scheduleReconnect(client));
    await client.connect();
    for (const channel of this.handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    this.client = client;
    for (const reset of this.resetHandlers) reset();
  }

  private scheduleReconnect(failed: pg.Client): void {
    if (this.closed || this.client !== failed) return;
    this.client = null;
    for (const reset of this.resetHandlers) reset();
    const attempt = () => {
      this.reconnectTimer = null;
      if (this.closed) return;
      this.connect().catch(() => {
        this.reconnectTimer = setTimeout(attempt, 1000);
      });
    };
    this.reconnectTimer = setTimeout(attempt, 250);
  }
}
