// Extension → client: an extension's reply or push goes to the client whose request it answers
// (by correlationId), else to the session holding its endpoint here (a push), else to the replica
// the cluster table says holds it, else it is dropped and counted. The NATS adapter decodes the
// message; what does not decode never reaches this router. Nothing larger than the maximum MQTT
// packet size is sent: a request gets a 1/KP 413 error instead, a push is dropped.
import type { Logger } from 'pino';
import type { ExtensionReply } from '../ports.js';
import { publishPacketBytes } from './packet-size.js';
import type { RememberedRequest } from './request-memory.js';
import { errorPayload, errorTopic, pushTopic, responseFor } from './responses.js';
import type { TrafficMeter } from './traffic-meter.js';

/** An MQTT client session: its replies are PUBLISHes on the request topic + `/status` or `/error`. */
export interface MqttReplyTarget {
  readonly replyVia: 'mqtt';
  readonly isActive: boolean;
  deliver(topic: string, payload: Buffer, qos: 0 | 1): void;
}

/** One waiting HTTP request (1/KP over HTTP): the reply is its response. */
export interface HttpReplyTarget {
  readonly replyVia: 'http';
  readonly isActive: boolean;
  /** Answers the request with the extension's reply; returns the body bytes sent. */
  reply(data: ExtensionReply): number;
}

/** Who a remembered request came from. */
export type ReplyTarget = MqttReplyTarget | HttpReplyTarget;

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
  | 'reply' | 'push' | 'forwarded' | 'endpoint-offline' | 'client-gone' | 'unroutable' | 'too-large' | 'push-to-http-dropped';

/** The 1/KP error a request gets instead of a reply too large to send. */
export const REPLY_TOO_LARGE = { statusCode: 413, reasonPhrase: 'Response larger than the maximum MQTT packet size' } as const;

export interface ExtensionDataRouterDeps {
  /** Requests by the id of who sent them: an MQTT session's connection id, or an HTTP request's. */
  requests: { take(correlationId: string): RememberedRequest<string> | undefined };
  /** The client session (or waiting HTTP request) with that id, while it is live. */
  liveSession(connectionId: string): ReplyTarget | undefined;
  holderOf(endpointId: string): PushTarget | undefined;
  /** The replica that holds an endpoint elsewhere in the cluster, if any (never this one). */
  remoteReplicaOf(endpointId: string): string | undefined;
  /** Republishes the message unchanged to that replica's ExtensionData subject. */
  forwardToReplica(replicaId: string, bytes: Uint8Array): void;
  logger: Logger;
  /** kaa.kpc.transports.mqtt.max-packet-bytes: nothing larger is sent to a client either. */
  maxPacketBytes: number;
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
      const session = this.deps.liveSession(request.session);
      if (session === undefined || !session.isActive) return this.dropped('client-gone', data);
      if (session.replyVia === 'http') return this.replied(request, session.reply(data));
      const [topic, payload] = responseFor(request.topic, data);
      if (this.fits(topic, payload, request.qos)) {
        session.deliver(topic, payload, request.qos);
        return this.replied(request, payload.length);
      }
      const [refusalTopic, refusal] = [errorTopic(request.topic), errorPayload(REPLY_TOO_LARGE.statusCode, REPLY_TOO_LARGE.reasonPhrase)];
      if (this.fits(refusalTopic, refusal, request.qos)) session.deliver(refusalTopic, refusal, request.qos);
      return this.dropped('too-large', data);
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
    if (!this.fits(topic, payload, 1)) return this.dropped('too-large', data);
    // The endpoint is held here by an HTTP session only: HTTP has no push (1/KP over HTTP).
    if (!holder.deliverPush(topic, payload, data.endpointId)) return this.dropped('push-to-http-dropped', data);
    this.count('push');
  }

  private replied(request: RememberedRequest<string>, bytes: number): void {
    if (request.endpoint !== null) this.deps.traffic.sent(request.endpoint, request.endpointId!, bytes);
    this.count('reply');
    this.deps.answered?.(Date.now() - request.at);
  }

  private fits(topic: string, payload: Buffer, qos: 0 | 1): boolean {
    return publishPacketBytes(topic, payload.length, qos) <= this.deps.maxPacketBytes;
  }

  private dropped(outcome: ExtensionDataOutcome, data: ExtensionReply): void {
    this.count(outcome);
    this.logger.debug({ outcome, correlationId: data.correlationId, endpointId: data.endpointId }, 'ExtensionData dropped');
  }
}
