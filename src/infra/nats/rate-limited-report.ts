// Reports a repeating failure at most once per interval: the first failure at once, then one line
// per interval carrying how many attempts failed since the last line.

export class RateLimitedReport {
  private lastReportAt = -Infinity;
  private failedSinceReport = 0;

  constructor(private readonly intervalMs: number) {}

  failed(report: (attemptsSinceLastReport: number) => void, now = Date.now()): void {
    this.failedSinceReport++;
    if (now - this.lastReportAt < this.intervalMs) return;
    this.lastReportAt = now;
    report(this.failedSinceReport);
    this.failedSinceReport = 0;
  }
}
