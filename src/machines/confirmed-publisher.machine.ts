// The confirmed publisher's connection lifecycle: when kept messages (QoS 1 ClientData, ELCE
// events) are flushed, parked, published again, and when whoever waits for "nothing unconfirmed"
// (the graceful shutdown) is told. src/infra/nats/confirmed-publisher.ts keeps the messages in
// plain arrays and implements the actions; it tells this chart about batches, flushes and NATS
// status changes, never about single messages (this runs once per batch, not per message).
//
// The NATS client silently drops what is published while it is disconnected, and what was written
// just before a disconnect may be lost with the old socket: a kept message is confirmed only by a
// flush (a PING answered by the server) issued after it, and published again after a reconnect
// until then. One flush at a time; messages sent meanwhile wait for the next one.
import { setup } from 'xstate';

/** What the adapter knows when a flush settles. */
interface FlushFacts {
  /** Kept messages sent since this flush was issued (they wait for the next). */
  sentSinceFlush: number;
  /** Kept messages still unconfirmed once this flush's messages are confirmed. */
  leftUnconfirmed: number;
}

export type ConfirmedPublisherEvent =
  /** A batch put kept messages on the wire. */
  | { type: 'batch.sent' }
  | ({ type: 'flush.confirmed' } & FlushFacts)
  /** `connected`: whether the NATS client still says it is connected (a closed connection never is). */
  | { type: 'flush.failed'; connected: boolean }
  | { type: 'nats.disconnected' }
  | { type: 'nats.reconnected' };

export const confirmedPublisherMachine = setup({
  types: {
    events: {} as ConfirmedPublisherEvent,
  },
  actions: {
    /** Flushes what was sent since the last flush (possibly nothing: a flush is then a bare PING). */
    startFlush: () => {},
    /** The flushed messages are on the server: their senders are told. */
    confirmFlushed: () => {},
    /** The flushed messages are not known to be on the server: parked to be sent again. */
    parkFlushed: () => {},
    /** What was written since the last flush may be gone with the old socket. */
    parkSent: () => {},
    republishParked: () => {},
    resolveIdleWaiters: () => {},
  },
  guards: {
    moreToFlush: ({ event }) => (event as FlushFacts).sentSinceFlush > 0,
    stillConnected: ({ event }) => (event as { connected?: boolean }).connected === true,
    nothingUnconfirmed: ({ event }) => (event as FlushFacts).leftUnconfirmed === 0,
  },
}).createMachine({
  id: 'confirmedPublisher',
  initial: 'idle',
  states: {
    /** Connected, no flush in flight, nothing sent unflushed. */
    idle: {
      on: {
        'batch.sent': { target: 'flushing', actions: 'startFlush' },
        'nats.disconnected': { target: 'disconnected', actions: 'parkSent' },
      },
    },
    flushing: {
      on: {
        'flush.confirmed': [
          { guard: 'moreToFlush', target: 'flushing', reenter: true, actions: ['confirmFlushed', 'startFlush'] },
          { guard: 'nothingUnconfirmed', target: 'idle', actions: ['confirmFlushed', 'resolveIdleWaiters'] },
          { target: 'idle', actions: 'confirmFlushed' },
        ],
        'flush.failed': [
          // Still connected: the server may have them or not, so they go out again now.
          { guard: 'stillConnected', target: 'flushing', reenter: true, actions: ['parkFlushed', 'republishParked', 'startFlush'] },
          // Connected until the flush failed means closed (the shutdown drained it): parked for good.
          { target: 'disconnected', actions: 'parkFlushed' },
        ],
        'nats.disconnected': { target: 'disconnectedFlushing', actions: 'parkSent' },
      },
    },
    /** Disconnected while a flush is in flight: its outcome still counts. New batches are parked. */
    disconnectedFlushing: {
      on: {
        'flush.confirmed': [
          { guard: 'nothingUnconfirmed', target: 'disconnected', actions: ['confirmFlushed', 'resolveIdleWaiters'] },
          { target: 'disconnected', actions: 'confirmFlushed' },
        ],
        'flush.failed': { target: 'disconnected', actions: 'parkFlushed' },
        // The flush in flight confirms what it covered; what is republished waits for the next one.
        'nats.reconnected': { target: 'flushing', actions: 'republishParked' },
      },
    },
    /** Every kept message is parked until NATS is back. */
    disconnected: {
      on: {
        'nats.reconnected': { target: 'flushing', actions: ['republishParked', 'startFlush'] },
      },
    },
  },
});
