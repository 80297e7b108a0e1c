// Everything KPC publishes on the message path goes out here, in batches.
//
// Publishes that must not be lost (QoS 1 ClientData, ELCE events): the NATS client silently drops
// whatever is published while it is disconnected, so every such message is kept here until a
// flush() issued after it has resolved (the server then has it), and published again after a
// reconnect. One flush confirms every publish made before it: one PING per batch.
//
// Batching: the NATS client writes its buffer to the socket in a microtask after the first publish,
// i.e. once per socket read of each MQTT client. Messages are therefore handed to it once per
// event-loop turn (setImmediate), so all the clients read in one turn share one NATS write.
//
// When to flush, park and publish again is decided by the chart in
// src/machines/confirmed-publisher.machine.ts, told once per batch, flush and NATS status change
// (stepped as a flat chart: see flat-chart.ts); the messages themselves stay in the arrays below.
import { confirmedPublisherMachine, type ConfirmedPublisherEvent } from '../../machines/confirmed-publisher.machine.js';
import { FlatChart } from '../flat-chart.js';
import type { NatsLink, NatsStatusListener } from './connection.js';

export type Confirmation = () => void;
/** Told when a sender's callback throws: the publisher carries on with the other messages. */
export type CallbackFailure = (error: unknown) => void;

interface Outgoing {
  subject: string;
  data: Uint8Array;
  reply: string | undefined;
  /** False for at-most-once messages (QoS 0): sent if NATS is up, never kept. */
  keep: boolean;
  /** Kept messages: NATS has confirmed it. At-most-once messages: handed to the NATS client. */
  onConfirmed: Confirmation | undefined;
}

export class ConfirmedPublisher implements NatsStatusListener {
  /** Handed over at the end of this event-loop turn. */
  private queued: Outgoing[] = [];
  private queuedToKeep = 0;
  /** Sent on the current connection, waiting for the next flush. */
  private sent: Outgoing[] = [];
  /** Covered by the flush in flight. */
  private flushing: Outgoing[] = [];
  /** Not (or no longer known to be) on the server: published again on reconnect. */
  private parked: Outgoing[] = [];
  private idleWaiters: Array<() => void> = [];
  private readonly chart: FlatChart<ConfirmedPublisherEvent>;

  constructor(
    private readonly nats: NatsLink,
    private readonly capacity: number,
    private readonly callbackFailed: CallbackFailure,
  ) {
    this.chart = new FlatChart(confirmedPublisherMachine, {
      startFlush: () => this.startFlush(),
      confirmFlushed: () => {
        const batch = this.takeFlushed();
        for (const outgoing of batch) this.tell(outgoing);
      },
      parkFlushed: () => this.parked.push(...this.takeFlushed()),
      parkSent: () => {
        this.parked.push(...this.sent);
        this.sent = [];
      },
      republishParked: () => this.republishParked(),
      resolveIdleWaiters: () => {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      },
    });
    nats.addListener(this);
  }

  /** The chart's state, for tests. */
  get state(): unknown {
    return this.chart.value;
  }

  /** How many messages NATS has not confirmed yet. */
  get unconfirmed(): number {
    return this.queuedToKeep + this.sent.length + this.flushing.length + this.parked.length;
  }

  /** Kept until NATS confirms it. Returns false (keeping nothing) when the store is full: the caller refuses the message. */
  publish(subject: string, data: Uint8Array, reply?: string, onConfirmed?: Confirmation): boolean {
    if (this.unconfirmed >= this.capacity) return false;
    this.queuedToKeep++;
    this.enqueue({ subject, data, reply, keep: true, onConfirmed });
    return true;
  }

  /**
   * At most once: lost if NATS is down when its batch goes out. `onHandedOver` runs once it has been
   * given to the NATS client: the caller acknowledges then, so a client publishing faster than
   * KPC can hand over is read no faster (aedes reads a client's next packets only after it
   * acknowledged the current ones).
   */
  publishAtMostOnce(subject: string, data: Uint8Array, reply: string | undefined, onHandedOver: () => void): void {
    this.enqueue({ subject, data, reply, keep: false, onConfirmed: onHandedOver });
  }

  private enqueue(outgoing: Outgoing): void {
    this.queued.push(outgoing);
    if (this.queued.length === 1) setImmediate(this.sendQueued);
  }

  private readonly sendQueued = (): void => {
    const batch = this.queued;
    this.queued = [];
    this.queuedToKeep = 0;
    // While the chart says disconnected, kept messages are parked without trying.
    const state = this.chart.value;
    const connected = (state === 'idle' || state === 'flushing') && this.nats.isConnected;
    const sentBefore = this.sent.length;
    for (const outgoing of batch) {
      const sent = connected && this.trySend(outgoing);
      if (!outgoing.keep) {
        this.tell(outgoing);
        continue;
      }
      if (sent) this.sent.push(outgoing);
      else this.parked.push(outgoing);
    }
    if (this.sent.length > sentBefore) this.chart.send({ type: 'batch.sent' });
  };

  /** Resolves when nothing is left unconfirmed (used at shutdown). */
  whenIdle(): Promise<void> {
    if (this.unconfirmed === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  onNatsDisconnected(): void {
    this.chart.send({ type: 'nats.disconnected' });
  }

  onNatsReconnected(): void {
    this.chart.send({ type: 'nats.reconnected' });
  }

  private republishParked(): void {
    const parked = this.parked;
    this.parked = [];
    for (const outgoing of parked) {
      if (this.trySend(outgoing)) this.sent.push(outgoing);
      else this.parked.push(outgoing);
    }
  }

  private trySend(outgoing: Outgoing): boolean {
    try {
      this.nats.connection.publish(outgoing.subject, outgoing.data, outgoing.reply ? { reply: outgoing.reply } : undefined);
      return true;
    } catch {
      return false; // closed or draining connection: keep it parked
    }
  }

  private startFlush(): void {
    this.flushing = this.sent;
    this.sent = [];
    const settled = (confirmed: boolean) => () => {
      if (!confirmed) return this.chart.send({ type: 'flush.failed', connected: this.nats.isConnected });
      const leftUnconfirmed = this.unconfirmed - this.flushing.length;
      this.chart.send({ type: 'flush.confirmed', sentSinceFlush: this.sent.length, leftUnconfirmed });
    };
    this.nats.connection.flush().then(settled(true), settled(false));
  }

  /**
   * A callback belongs to a sender (it acknowledges to an MQTT client): if it throws, the messages
   * after it in the batch must still be told, and the chart's step must still complete (a step cut
   * short would leave the flush unsettled, and nothing would be confirmed again).
   */
  private tell(outgoing: Outgoing): void {
    try {
      outgoing.onConfirmed?.();
    } catch (error) {
      this.callbackFailed(error);
    }
  }

  private takeFlushed(): Outgoing[] {
    const batch = this.flushing;
    this.flushing = [];
    return batch;
  }
}
