// Reconnect storms: after an outage every device comes back at once. A token bucket per listener
// admits at most `ratePerSecond` new connections per second on average, with a burst of one
// second's worth; the rest are closed at accept, before a byte is read, so no TLS handshake and no
// 16/ECAP request is spent on them. Clients retry (with backoff, if they are well written) and get
// in as the bucket refills.
export class ConnectionRateLimit {
  private tokens: number;
  private refilledAt: number;

  /**
   * @param ratePerSecond new connections per second; the bucket holds as many (the burst).
   * @param now milliseconds from any fixed origin; tests pass a clock they control.
   */
  constructor(
    private readonly ratePerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = ratePerSecond;
    this.refilledAt = now();
  }

  /** Takes one token: true when this connection may proceed. */
  admit(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((now - this.refilledAt) / 1000) * this.ratePerSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
