// The confirmed publisher chart as a test model, driven through the live ConfirmedPublisher over a
// NATS double whose flushes the test settles: QoS 1 messages going out, flushes confirmed or
// failing (with messages sent or parked meanwhile), NATS going down and coming back, the
// connection closing. At every state we check the flush in flight, that every message is either
// confirmed exactly once or still counted as unconfirmed, what went on the wire, and that a
// shutdown waiting for "nothing unconfirmed" is told exactly when that is true.
import { describe, expect, it } from 'vitest';
import type { NatsLink, NatsStatusListener } from '../../src/infra/nats/connection.js';
import { ConfirmedPublisher } from '../../src/infra/nats/confirmed-publisher.js';
import { confirmedPublisherModel } from './support/events.js';
import { generatePaths, type Params } from './support/paths.js';
import { ModelRun, type StateCheck, type Stimulus } from './support/run.js';

interface Flush {
  settled: boolean;
  resolve(): void;
  reject(error: Error): void;
}

/** NATS as the publisher sees it: publishes recorded, flushes held until the test settles them. */
class NatsDouble {
  connected = true;
  /** Publishing throws, as on a draining or closed connection. */
  refusing = false;
  readonly published: string[] = [];
  readonly flushes: Flush[] = [];
  listener: NatsStatusListener | undefined;

  readonly connection = {
    publish: (subject: string) => {
      if (this.refusing) throw new Error('connection draining');
      this.published.push(subject);
    },
    flush: () => new Promise<void>((resolve, reject) => this.flushes.push({ settled: false, resolve, reject })),
  };

  get isConnected(): boolean {
    return this.connected;
  }

  addListener(listener: NatsStatusListener): void {
    this.listener = listener;
  }

  pending(): Flush[] {
    return this.flushes.filter((flush) => !flush.settled);
  }

  settleFlush(confirmed: boolean): void {
    const [flush, ...more] = this.pending();
    expect(flush, 'a flush is in flight').toBeDefined();
    expect(more, 'one flush at a time').toEqual([]);
    flush!.settled = true;
    if (confirmed) flush!.resolve();
    else flush!.reject(new Error('flush failed'));
  }
}

class World {
  readonly run = new ModelRun(confirmedPublisherModel);
  readonly nats = new NatsDouble();
  readonly publisher = new ConfirmedPublisher(this.nats as unknown as NatsLink, 100, (error) => {
    throw error; // no callback of this test throws
  });
  /** How many times each message (by subject) was confirmed. */
  readonly confirmations = new Map<string, number>();
  /** Shutdown waiters registered with each message, and whether each was told. */
  readonly waiters: Array<{ resolved: boolean }> = [];
  /** How many publishes the NATS double had seen when NATS came back. */
  reconnectedAt = 0;
  /** Messages sent while a flush was in flight, just before NATS went down. */
  readonly sentDuringFlush: string[] = [];

  params(): Params {
    return this.run.params(this.stimuli(), this.checks(), (model) => {
      expect(this.publisher.state, 'live publisher state').toBe(model.value);
      const counts = [...this.confirmations.values()];
      expect(counts.every((count) => count <= 1), 'no message confirmed twice').toBe(true);
      const unconfirmed = counts.filter((count) => count === 0).length;
      expect(this.publisher.unconfirmed, 'every message not confirmed is kept').toBe(unconfirmed);
      for (const waiter of this.waiters) if (unconfirmed > 0) expect(waiter.resolved, 'no shutdown waiter told too early').toBe(false);
      expect(this.nats.pending().length, 'at most one flush at a time').toBeLessThanOrEqual(1);
    });
  }

  /** One QoS 1 message, handed over at the end of this turn (the stimulus then settles). */
  private async publishOne(): Promise<string> {
    const subject = `kaa.v1.service.dcx.kp1.client-data.${this.confirmations.size + 1}`;
    this.confirmations.set(subject, 0);
    expect(this.publisher.publish(subject, new Uint8Array([1]), undefined, () => this.confirmations.set(subject, this.confirmations.get(subject)! + 1))).toBe(true);
    const waiter = { resolved: false };
    this.waiters.push(waiter);
    void this.publisher.whenIdle().then(() => (waiter.resolved = true));
    await new Promise(setImmediate);
    return subject;
  }

  private stimuli(): Record<string, Stimulus> {
    const { nats } = this;
    return {
      'batch.sent': () => this.publishOne(),
      'flush.confirmed': async (event: { sentSinceFlush: number; leftUnconfirmed: number }) => {
        if (event.leftUnconfirmed > 0) {
          // Sent on the wire while connected; while disconnected (or refused), parked.
          nats.refusing = event.sentSinceFlush === 0 && nats.connected;
          await this.publishOne();
          nats.refusing = false;
        }
        nats.settleFlush(true);
      },
      'flush.failed': (event: { connected: boolean }) => {
        if (!event.connected) nats.connected = false; // closed: the client never says connected again
        nats.settleFlush(false);
      },
      'nats.disconnected': async () => {
        // During a flush, a message sent after it was issued: written, unconfirmed, maybe lost with the socket.
        if (this.run.cameFrom === 'flushing') this.sentDuringFlush.push(await this.publishOne());
        nats.connected = false;
        nats.listener!.onNatsDisconnected();
      },
      'nats.reconnected': () => {
        this.reconnectedAt = nats.published.length;
        nats.connected = true;
        nats.listener!.onNatsReconnected();
      },
    };
  }

  private checks(): Record<string, StateCheck> {
    const { nats } = this;
    const unconfirmed = () => [...this.confirmations.entries()].filter(([, count]) => count === 0).map(([subject]) => subject);
    return {
      idle: () => {
        expect(nats.pending()).toEqual([]);
        if (unconfirmed().length === 0) expect(this.waiters.every((waiter) => waiter.resolved), 'shutdown waiters told').toBe(true);
      },
      flushing: () => {
        expect(nats.pending()).toHaveLength(1);
        if (this.run.cameFrom === 'disconnected') {
          // Back from an outage with no flush in flight: every message not confirmed was published
          // again on the new connection. (From disconnectedFlushing, the flush in flight still
          // covers its own messages.)
          for (const subject of unconfirmed()) expect(nats.published.lastIndexOf(subject)).toBeGreaterThanOrEqual(this.reconnectedAt);
        }
        if (this.run.lastEvent!.type === 'nats.reconnected') {
          const parked = this.sentDuringFlush.filter((subject) => unconfirmed().includes(subject));
          for (const subject of parked) expect(nats.published.lastIndexOf(subject), 'parked at the disconnect, published again').toBeGreaterThanOrEqual(this.reconnectedAt);
        }
      },
      disconnectedFlushing: () => {
        expect(nats.pending()).toHaveLength(1);
      },
      disconnected: () => {
        expect(nats.pending()).toEqual([]);
        if (unconfirmed().length === 0) expect(this.waiters.every((waiter) => waiter.resolved), 'shutdown waiters told').toBe(true);
      },
    };
  }
}

describe('confirmed publisher chart, driven through the live ConfirmedPublisher', () => {
  for (const path of generatePaths(confirmedPublisherModel).paths) {
    it(path.description, async () => {
      await path.test(new World().params());
    });
  }
});
