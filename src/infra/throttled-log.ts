// A log line per event would let a flood of bad connections flood the log too (and the disk). This
// lets one line per kind through per interval and reports how many were held back meanwhile.
export class LogThrottle {
  private readonly kinds = new Map<string, { lastAt: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `write(suppressed)` unless a line of this kind went out less than the interval ago. */
  log(kind: string, write: (suppressedSinceLast: number) => void): void {
    const now = this.now();
    const state = this.kinds.get(kind);
    if (state !== undefined && now - state.lastAt < this.intervalMs) {
      state.suppressed++;
      return;
    }
    this.kinds.set(kind, { lastAt: now, suppressed: 0 });
    write(state?.suppressed ?? 0);
  }
}
