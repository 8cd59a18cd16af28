/** A one-line progress bar on a TTY; periodic plain lines otherwise (CI logs). */
export class ProgressBar {
  private last = 0;
  private readonly start = Date.now();
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {}

  update(done: number, extra = ''): void {
    const now = Date.now();
    if (done < this.total && now - this.last < (this.tty ? 100 : 5000)) return;
    this.last = now;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const rate = done / Math.max(1e-3, (now - this.start) / 1000);
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const line = `${this.label} [${bar}] ${done}/${this.total} ${rate.toFixed(0)}/s eta ${eta.toFixed(0)}s ${extra}`;
    if (this.tty) process.stderr.write(`\r${line.slice(0, (process.stderr.columns ?? 120) - 1)}\x1b[K`);
    else process.stderr.write(`${line}\n`);
  }

  done(extra = ''): void {
    this.update(this.total, extra);
    if (this.tty) process.stderr.write('\n');
  }
}
