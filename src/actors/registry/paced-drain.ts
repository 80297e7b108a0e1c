// Rolling upgrades without a reconnect storm: on shutdown the client connections are closed a few
// at a time instead of all at once, so their clients come back to the other replicas (and their
// 16/ECAP credential checks reach the credential service) spread over seconds, not in one burst.
//
// The pace is `ratePerSecond`, raised when needed so that the last connection is closed within
// `windowMs` (half the graceful-shutdown period: the other half is for flushing to NATS).
export interface DrainPace {
  /** Connections closed per second; 0 closes all at once. */
  ratePerSecond: number;
  /** Every connection is asked to close within this time from the start. */
  windowMs: number;
}

/** The sessions still open: a live collection, which sessions leave when they end on their own. */
export interface OpenSessions<S> {
  has(session: S): boolean;
  values(): Iterable<S>;
}

/** Timer granularity: fine enough for a smooth pace, coarse enough to cost nothing. */
const MIN_TICK_MS = 5;
const MAX_TICK_MS = 100;

export class PacedDrain<S> {
  constructor(
    private readonly pace: DrainPace,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Calls `close` on each member of `open` (a live set: sessions leave it when they end on their
   * own), oldest first, at the pace; the ones that joined meanwhile are closed at the end.
   * Resolves once every one has been closed.
   */
  run(open: OpenSessions<S>, close: (session: S) => void): Promise<void> {
    const queue = [...open.values()];
    const closed = new Set<S>();
    let next = 0;
    const closeUpTo = (allowed: number) => {
      for (; allowed > 0 && next < queue.length; next++) {
        const session = queue[next]!;
        if (!open.has(session)) continue; // ended by itself meanwhile
        closed.add(session);
        close(session);
        allowed--;
      }
      if (next < queue.length) return false;
      for (const late of [...open.values()]) if (!closed.has(late)) close(late);
      return true;
    };
    if (this.pace.ratePerSecond === 0 || queue.length === 0) {
      closeUpTo(Infinity);
      return Promise.resolve();
    }
    const perMs = Math.max(this.pace.ratePerSecond / 1000, queue.length / Math.max(1, this.pace.windowMs));
    const tickMs = Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, 1 / perMs));
    const startedAt = this.now();
    return new Promise((resolve) => {
      const tick = () => {
        // One at the start, then as many as the elapsed time allows.
        const allowed = 1 + Math.floor((this.now() - startedAt) * perMs) - closed.size;
        if (closeUpTo(allowed)) return resolve();
        setTimeout(tick, tickMs);
      };
      tick();
    });
  }
}
