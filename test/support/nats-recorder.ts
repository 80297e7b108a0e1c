// Records every message on a NATS subject (wildcards allowed), decoded, from subscription on.
import type { NatsConnection, Subscription } from 'nats';
import { waitUntil } from './waiting.js';

export class NatsRecorder<T> {
  readonly messages: Array<{ subject: string; value: T }> = [];
  private readonly subscription: Subscription;

  private constructor(nc: NatsConnection, subject: string, decode: (subject: string, data: Uint8Array) => T) {
    this.subscription = nc.subscribe(subject, {
      callback: (error, msg) => {
        if (!error) this.messages.push({ subject: msg.subject, value: decode(msg.subject, msg.data) });
      },
    });
  }

  /** Subscribes and waits until the server has the subscription. */
  static async start<T>(nc: NatsConnection, subject: string, decode: (subject: string, data: Uint8Array) => T): Promise<NatsRecorder<T>> {
    const recorder = new NatsRecorder(nc, subject, decode);
    await nc.flush();
    return recorder;
  }

  matching(predicate: (message: { subject: string; value: T }) => boolean): Array<{ subject: string; value: T }> {
    return this.messages.filter(predicate);
  }

  waitFor(what: string, predicate: (message: { subject: string; value: T }) => boolean, timeoutMs = 5_000) {
    return waitUntil(() => this.messages.find(predicate), what, { timeoutMs });
  }

  stop(): void {
    this.subscription.unsubscribe();
  }
}
