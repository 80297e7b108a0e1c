// Messages on KPC's NATS subjects that do not decode: anyone on the bus can send them, as many as
// they like. Each is counted (kpc_nats_undecodable_total, by subscription) and skipped, never
// thrown; the log gets at most one line per subscription per interval, with the count left out.
import type { ThrottledLog } from '../log-throttle.js';

export class UndecodableMessages {
  constructor(
    private readonly throttle: ThrottledLog,
    private readonly count: (subscription: string) => void,
  ) {}

  /**
   * `subscription` is the subject as subscribed (wildcards included): a bounded set of sources.
   * `consequence`: what KPC does about it, for the log line.
   */
  report(subscription: string, what: string, fields: Record<string, unknown>, consequence = 'ignored'): void {
    this.count(subscription);
    this.throttle.warn('nats.undecodable', subscription, fields, `undecodable ${what}: ${consequence}`);
  }

  /** The decoded message, or undefined (reported) when it does not decode. */
  decode<T>(decode: () => T, subscription: string, subject: string, what: string): T | undefined {
    try {
      return decode();
    } catch (error) {
      this.report(subscription, what, { subject, err: (error as Error).message });
      return undefined;
    }
  }
}
