/**
 * A progress line on stderr: rewritten in place on a terminal, one line per update elsewhere (logs,
 * CI), at most every half second.
 */
export class Progress {
  private started = performance.now();
  private lastPrint = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(
    private readonly stage: string,
    private readonly total: number,
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
  ) {}

  update(done: number): void {
    const now = performance.now();
    if (done < this.total && now - this.lastPrint < 500) return;
    this.lastPrint = now;
    const width = 30;
    const filled = Math.round((done / Math.max(1, this.total)) * width);
    const rate = Math.round(done / Math.max(0.001, (now - this.started) / 1000));
    const line = `${this.stage.padEnd(8)} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done.toLocaleString("en-US")}/${this.total.toLocaleString("en-US")}  ${rate.toLocaleString("en-US")}/s`;
    this.write(this.tty ? `\r${line}${done >= this.total ? "\n" : ""}` : `${line}\n`);
  }

  /** Seconds since the stage started. */
  elapsed(): number {
    return (performance.now() - this.started) / 1000;
  }
}
