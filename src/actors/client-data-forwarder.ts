// Client → extension (SPEC §6): one PUBLISH becomes one 4/ESP ClientData on the extension
// instance's subject, with this replica's reply subject. QoS 0 goes straight out; QoS 1 (and 2) is
// acknowledged only once NATS has confirmed it.
import { randomUUID } from 'node:crypto';
import type { Route } from '../protocol/routing.js';
import { codecs } from '../infra/nats/codecs.js';
import type { ConfirmedPublisher } from '../infra/nats/confirmed-publisher.js';
import { subjects } from '../infra/nats/subjects.js';
import type { IncomingPublish, PublishAck } from './ports.js';
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
  private readonly replySubject: string;

  constructor(
    private readonly publisher: ConfirmedPublisher,
    private readonly requests: RequestMemory<S>,
    private readonly options: { replicaId: string; extensionTimeoutMs: number },
    private readonly counters: ForwarderCounters,
  ) {
    this.replySubject = subjects.replicaExtensionData(options.replicaId);
  }

  /**
   * `endpoint` (with its `endpointId`) for endpoint-aware instances, else null. Returns false when
   * the message was refused (too many wait for NATS confirmation).
   */
  forward(session: S, { packet, route, ack }: RoutedMessage, endpointId: string | null, endpoint: MeteredEndpoint | null = null): boolean {
    const correlationId = randomUUID();
    const now = Date.now();
    const data = codecs.clientData.encode({
      correlationId,
      timestamp: now,
      timeout: this.options.extensionTimeoutMs,
      appVersionName: route.appVersionName,
      endpointId,
      resourcePath: route.resourcePath,
      requestId: route.requestId,
      payload: packet.payload,
      configName: null,
    });
    const qos = packet.qos === 0 ? 0 : 1;
    // 1/KP: without a request ID no response should be published, so there is nothing to remember.
    if (route.requestId !== null) this.requests.remember(correlationId, session, packet.topic, qos, now, endpoint, endpointId);

    if (qos === 0) {
      // At most once: if NATS is down right now the message is lost, as QoS 0 allows.
      this.publisher.publishAtMostOnce(route.clientDataSubject, data, this.replySubject, ack);
      this.counters.forwarded();
      return true;
    }
    if (this.publisher.publish(route.clientDataSubject, data, this.replySubject, ack)) {
      this.counters.forwarded();
      return true;
    }
    if (route.requestId !== null) this.requests.take(correlationId);
    this.counters.overflow();
    ack(new UnconfirmedStoreFullError());
    return false;
  }
}
