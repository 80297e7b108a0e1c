// Rate-limited warnings: events that a peer can repeat at will (undecodable NATS messages, slow
// consumers, MQTT protocol violations, a misbehaving credential provider) must not turn into one
// log line each. Each kind of event from each source is logged at most once per interval; the
// next line that gets through says how many were left out since the previous one. Metrics count
// every event; this only decides what reaches the log.
import type { Logger } from 'pino';
import type { RateLimitedLog } from '../actors/ports.js';

/** Distinct (kind, source) pairs remembered; sources come from small fixed sets, this is a backstop. */
const MAX_TRACKED = 1_000;

interface Seen {
  loggedAt: number;
  suppressed: number;
}

export class LogThrottle implements RateLimitedLog {
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly logger: Logger,
    readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(kind: string, source: string, fields: Record<string, unknown>, message: string): void {
    this.log('warn', kind, source, fields, message);
  }

  error(kind: string, source: string, fields: Record<string, unknown>, message: string): void {
    this.log('error', kind, source, fields, message);
  }

  private log(level: 'warn' | 'error', kind: string, source: string, fields: Record<string, unknown>, message: string): void {
    const key = `${kind}\u0000${source}`;
    const now = this.now();
    const seen = this.seen.get(key);
    if (seen !== undefined && now - seen.loggedAt < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.logger[level]({ event: kind, source, ...fields, ...(suppressed > 0 ? { suppressed, suppressedSinceMs: now - seen!.loggedAt } : {}) }, message);
    if (seen !== undefined) {
      seen.loggedAt = now;
      seen.suppressed = 0;
      return;
    }
    if (this.seen.size >= MAX_TRACKED) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, { loggedAt: now, suppressed: 0 });
  }
}
