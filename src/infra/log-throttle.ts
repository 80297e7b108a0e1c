// Rate-limited logging: events that a peer can repeat at will (bad connections at the front door,
// undecodable NATS messages, slow consumers, MQTT protocol violations, a misbehaving credential
// provider, a NATS server that keeps refusing) must not turn into one log line each, nor flood
// the disk. Each kind of event from each source is logged at most once per interval; the next line
// that gets through says how many were held back since the previous one. Metrics count every
// event; this only decides what reaches the log.
import type { Logger } from 'pino';
import type { RateLimitedLog } from '../actors/ports.js';

/** Distinct keys remembered; keys come from small fixed sets, this is a backstop. */
const MAX_TRACKED = 1_000;

export class LogThrottle {
  private readonly seen = new Map<string, { loggedAt: number; suppressed: number }>();

  constructor(
    readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Calls `write(suppressed)` unless a line with this key went out less than the interval ago;
   * `suppressed` is how many calls with the key were held back since that line.
   */
  log(key: string, write: (suppressed: number) => void): void {
    const now = this.now();
    const seen = this.seen.get(key);
    if (seen !== undefined && now - seen.loggedAt < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    if (seen === undefined && this.seen.size >= MAX_TRACKED) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, { loggedAt: now, suppressed: 0 });
    write(seen?.suppressed ?? 0);
  }
}

/**
 * The core's RateLimitedLog: a line per kind and source per interval, with `event` (the kind),
 * `source`, the caller's fields and, when some were held back, `suppressed`.
 */
export class ThrottledLog implements RateLimitedLog {
  constructor(
    private readonly logger: Logger,
    private readonly throttle = new LogThrottle(),
  ) {}

  warn(kind: string, source: string, fields: Record<string, unknown>, message: string): void {
    this.log('warn', kind, source, fields, message);
  }

  error(kind: string, source: string, fields: Record<string, unknown>, message: string): void {
    this.log('error', kind, source, fields, message);
  }

  private log(level: 'warn' | 'error', kind: string, source: string, fields: Record<string, unknown>, message: string): void {
    this.throttle.log(`${kind}\u0000${source}`, (suppressed) =>
      this.logger[level]({ event: kind, source, ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, message),
    );
  }
}
