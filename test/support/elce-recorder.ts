// Records every 9/ELCE connectivity event on NATS (any KPC instance, any replica), decoded, in
// arrival order. Events from one KPC arrive in the order it published them (one NATS connection),
// so a later event is a barrier: once it is seen, every earlier event of that KPC has been seen.
import type { NatsConnection, Subscription } from 'nats';
import { codecs } from '../../src/infra/nats/codecs.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import { ChangeWaiters } from './waiting.js';

export interface ElceEvent {
  type: 'connected' | 'disconnected';
  subject: string;
  endpoints: Record<string, string>;
  originatorReplicaId: string;
  correlationId: string;
}

export type ElceMatch = (event: ElceEvent) => boolean;

/** Matches a `type` event whose endpoint list names `endpointId`. */
export const listing =
  (type: ElceEvent['type'], endpointId: string): ElceMatch =>
  (event) =>
    event.type === type && Object.hasOwn(event.endpoints, endpointId);

export class ElceRecorder {
  readonly events: ElceEvent[] = [];
  private readonly waiters = new ChangeWaiters();

  private constructor(private readonly subscription: Subscription) {}

  /** Subscribes and resolves once the server has the subscription. */
  static async start(nc: NatsConnection): Promise<ElceRecorder> {
    let recorder: ElceRecorder | undefined;
    const pending: ElceEvent[] = [];
    const subscription = nc.subscribe(subjects.connectivityEvents, {
      callback: (error, msg) => {
        if (error) return;
        const type = msg.subject.endsWith('.connected') ? 'connected' : 'disconnected';
        const codec = type === 'connected' ? codecs.endpointConnected : codecs.endpointDisconnected;
        const { endpoints, originatorReplicaId, correlationId } = codec.decode(msg.data);
        const event: ElceEvent = { type, subject: msg.subject, endpoints, originatorReplicaId, correlationId };
        if (recorder) recorder.record(event);
        else pending.push(event);
      },
    });
    recorder = new ElceRecorder(subscription);
    pending.forEach((event) => recorder!.record(event));
    await nc.flush();
    return recorder;
  }

  /** The position to pass as `since` to look only at events recorded from now on. */
  mark(): number {
    return this.events.length;
  }

  /** Events at or after `since` that match. */
  find(match: ElceMatch, since = 0): ElceEvent[] {
    return this.events.slice(since).filter(match);
  }

  /** The first event at or after `since` (past or future) that matches; rejects after `timeoutMs`. */
  waitFor(match: ElceMatch, what: string, opts: { since?: number; timeoutMs?: number } = {}): Promise<ElceEvent> {
    const { since = 0, timeoutMs = 10_000 } = opts;
    return this.waiters.waitFor(
      () => this.find(match, since)[0],
      timeoutMs,
      () => new Error(`no ELCE event: ${what} within ${timeoutMs} ms; events since #${since}:\n${this.describe(since)}`),
    );
  }

  describe(since = 0): string {
    const lines = this.events.slice(since).map((e, i) => `  #${since + i} ${e.type} ${JSON.stringify(e.endpoints)} from ${e.originatorReplicaId}`);
    return lines.length > 0 ? lines.join('\n') : '  (none)';
  }

  stop(): void {
    this.subscription.unsubscribe();
  }

  private record(event: ElceEvent): void {
    this.events.push(event);
    this.waiters.changed();
  }
}
