// Extension → client: an extension's reply or push goes to the client whose request it answers
// (by correlationId), else to the session holding its endpoint here (a push), else to the replica
// the cluster table says holds it, else it is dropped and counted. The NATS adapter decodes the
// message; what does not decode never reaches this router.
import type { Logger } from 'pino';
import type { ExtensionReply } from '../ports.js';
import type { RememberedRequest } from './request-memory.js';
import { pushTopic, responseFor } from './responses.js';
import type { TrafficMeter } from './traffic-meter.js';

/** Who a remembered request came from: an MQTT client session, or one waiting HTTP request. */
export interface ReplyTarget {
  readonly isActive: boolean;
  /** The extension's answer to the request made on `requestTopic` at `qos`; returns the payload bytes delivered. */
  reply(data: ExtensionReply, requestTopic: string, qos: 0 | 1): number;
}

/** The local session that receives an endpoint's pushes. */
export interface PushTarget {
  readonly appVersionName: string;
  readonly token: string;
  /**
   * `endpointId`: the endpoint the push is for (its traffic is counted). False when the holder
   * cannot receive pushes (1/KP over HTTP has none).
   */
  deliverPush(topic: string, payload: Buffer, endpointId: string): boolean;
}

export type ExtensionDataOutcome =
  | 'reply' | 'push' | 'forwarded' | 'endpoint-offline' | 'client-gone' | 'unroutable' | 'push-to-http-dropped';

export interface ExtensionDataRouterDeps {
  requests: { take(correlationId: string): RememberedRequest<ReplyTarget> | undefined };
  holderOf(endpointId: string): PushTarget | undefined;
  /** The replica that holds an endpoint elsewhere in the cluster, if any (never this one). */
  remoteReplicaOf(endpointId: string): string | undefined;
  /** Republishes the message unchanged to that replica's ExtensionData subject. */
  forwardToReplica(replicaId: string, bytes: Uint8Array): void;
  logger: Logger;
  count(outcome: ExtensionDataOutcome): void;
  traffic: TrafficMeter;
  /** A request was answered, `ms` after its ClientData was published. */
  answered?(ms: number): void;
}

export class ExtensionDataRouter {
  private readonly requests: ExtensionDataRouterDeps['requests'];
  private readonly logger: Logger;
  private readonly count: (outcome: ExtensionDataOutcome) => void;

  constructor(private readonly deps: ExtensionDataRouterDeps) {
    ({ requests: this.requests, logger: this.logger, count: this.count } = deps);
  }

  /**
   * `bytes`: the message as received, forwarded unchanged to another replica when that one holds
   * the endpoint. `forwardable`: false for what another replica already forwarded here, so nothing loops.
   */
  route(data: ExtensionReply, bytes: Uint8Array, forwardable: boolean): void {
    const request = this.requests.take(data.correlationId);
    if (request !== undefined) {
      if (!request.session.isActive) return this.dropped('client-gone', data);
      const delivered = request.session.reply(data, request.topic, request.qos);
      if (request.endpoint !== null) this.deps.traffic.sent(request.endpoint, request.endpointId!, delivered);
      this.count('reply');
      this.deps.answered?.(Date.now() - request.at);
      return;
    }

    if (data.endpointId === null) return this.dropped('unroutable', data);
    const holder = this.deps.holderOf(data.endpointId);
    if (holder === undefined) {
      const replica = forwardable ? this.deps.remoteReplicaOf(data.endpointId) : undefined;
      if (replica === undefined) return this.dropped('endpoint-offline', data);
      this.deps.forwardToReplica(replica, bytes);
      this.count('forwarded');
      return;
    }
    if (data.extensionInstanceName === null) return this.dropped('unroutable', data);
    const base = pushTopic(data.appVersionName ?? holder.appVersionName, data.extensionInstanceName, holder.token, data.resourcePath, data.requestId);
    const [topic, payload] = responseFor(base, data);
    // The endpoint is held here by an HTTP session only: HTTP has no push (1/KP over HTTP).
    if (!holder.deliverPush(topic, payload, data.endpointId)) return this.dropped('push-to-http-dropped', data);
    this.count('push');
  }

  private dropped(outcome: ExtensionDataOutcome, data: ExtensionReply): void {
    this.count(outcome);
    this.logger.debug({ outcome, correlationId: data.correlationId, endpointId: data.endpointId }, 'ExtensionData dropped');
  }
}
