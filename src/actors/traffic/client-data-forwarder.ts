// Client → extension: one routed PUBLISH becomes one 4/ESP ClientData for its extension instance,
// handed to the outbox (the NATS adapter encodes and publishes it). QoS 0 goes straight out; QoS 1
// (and 2) is acknowledged only once the outbox confirms it. Requests with a 1/KP request ID are
// remembered so that the extension's reply finds its way back to this client.
import { randomUUID } from 'node:crypto';
import type { ClientDataMessage, ClientDataOutbox, IncomingPublish, PublishAck } from '../ports.js';
import type { Route } from './routing.js';
import type { RequestMemory } from './request-memory.js';
import type { MeteredEndpoint } from './traffic-meter.js';

/** A PUBLISH that passed routing, with the callback that completes it. */
export interface RoutedMessage {
  packet: IncomingPublish;
  route: Route;
  ack: PublishAck;
}

export interface ForwarderCounters {
  forwarded(): void;
  overflow(): void;
}

export class UnconfirmedStoreFullError extends Error {
  constructor() {
    super('too many messages waiting for NATS confirmation; retry later');
  }
}

export class ClientDataForwarder<S> {
  constructor(
    private readonly outbox: ClientDataOutbox,
    private readonly requests: RequestMemory<S>,
    private readonly options: { extensionTimeoutMs: number },
    private readonly counters: ForwarderCounters,
  ) {}

  /**
   * `endpoint` (with its `endpointId`) for endpoint-aware instances, else null. Returns false when
   * the message was refused (too many wait for NATS confirmation).
   */
  forward(session: S, { packet, route, ack }: RoutedMessage, endpointId: string | null, endpoint: MeteredEndpoint | null = null): boolean {
    const correlationId = randomUUID();
    const now = Date.now();
    const message: ClientDataMessage = {
      correlationId,
      timestamp: now,
      timeout: this.options.extensionTimeoutMs,
      appVersionName: route.appVersionName,
      endpointId,
      resourcePath: route.resourcePath,
      requestId: route.requestId,
      payload: packet.payload,
    };
    const qos = packet.qos === 0 ? 0 : 1;
    // 1/KP: without a request ID no response should be published, so there is nothing to remember.
    if (route.requestId !== null) this.requests.remember(correlationId, session, packet.topic, qos, now, endpoint, endpointId);

    if (qos === 0) {
      // At most once: if NATS is down right now the message is lost, as QoS 0 allows.
      this.outbox.sendAtMostOnce(route.clientDataSubject, message, ack);
      this.counters.forwarded();
      return true;
    }
    if (this.outbox.send(route.clientDataSubject, message, ack)) {
      this.counters.forwarded();
      return true;
    }
    if (route.requestId !== null) this.requests.take(correlationId);
    this.counters.overflow();
    ack(new UnconfirmedStoreFullError());
    return false;
  }
}
