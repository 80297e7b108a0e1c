// The live endpoint session: one token used by one owner, an MQTT client session (which holds a
// connection) or an HTTP session (which holds nothing but the identification, until it idles out).
// The chart (src/machines/endpoint-session.machine.ts) decides; this class carries the decisions out
// and owns what cannot live in a pure snapshot (the token, the messages waiting for identification).
// It talks to its owner only through the EndpointOwner port, so it never knows the transport.
//
// It is not an xstate actor but a stepped session (stepped-session.ts): a client may hold many
// endpoint sessions for as long as it is connected, and each holds only its chart's state.
import type { SnapshotFrom } from 'xstate';
import {
  endpointSessionMachine, type EndpointSessionContext, type EndpointSessionEvent, type EndpointSessionInput,
} from '../../machines/endpoint-session.machine.js';
import type { SubscriptionAnswer, TokenValidator } from '../ports.js';
import type { RoutedMessage } from '../traffic/client-data-forwarder.js';
import type { MeteredEndpoint, TrafficMeter } from '../traffic/traffic-meter.js';
import type { Journal } from './journal.js';
import { secretHash } from './secret-hash.js';
import { SteadyReactions } from './steady-reactions.js';
import type { SharedHub, Supervision } from './session-hub.js';
import { SteppedSession, type SessionActions } from './stepped-session.js';

/** The registry's endpoint bookkeeping, as an endpoint session sees it. */
export interface EndpointDirectory extends Supervision {
  /** This endpoint session now receives the endpoint's pushes; any other local one is roamed. */
  claimEndpoint(session: EndpointSession, endpointId: string): void;
  releaseEndpoint(session: EndpointSession, endpointId: string | null): void;
  /** The session has finished: it holds and is identified as nothing any more. */
  endpointForgotten(session: EndpointSession): void;
  /** Whether this session is the one that receives its endpoint's pushes here. */
  holds(session: EndpointSession): boolean;
}

export interface EndpointSessionHub extends SharedHub {
  readonly directory: EndpointDirectory;
  /** Endpoint tokens (16/ECAP). */
  readonly tokens: TokenValidator;
  /** Endpoint traffic for 9/ELCE traffic reports. */
  readonly traffic: TrafficMeter;
}

/** The session an endpoint session belongs to (MQTT client session or HTTP session), as the endpoint session sees it. */
export interface EndpointOwner {
  /** Names the owner in inspection: the MQTT client id, or the HTTP session's id. */
  readonly ownerId: string;
  /** The tenant of the client's credentials (22/CAP), if any. */
  readonly tenantId: string | null;
  /** False for owners that cannot push (1/KP over HTTP is request/response only). */
  readonly acceptsPushes: boolean;
  /** Sends a push to the owner's client if it is still there; says whether it did. */
  deliver(topic: string, payload: Buffer, qos: 0 | 1): boolean;
  /** Forwards a message for this endpoint to its extension instance; false when it was refused. */
  forward(message: RoutedMessage, endpointId: string, endpoint: MeteredEndpoint): boolean;
  /** A 1/KP error for one message (only when it has a request ID), then its acknowledgement. */
  answerError(message: RoutedMessage, statusCode: number, reasonPhrase: string): void;
  endpointFinished(endpoint: EndpointSession): void;
}

const messageOf = (event: EndpointSessionEvent): RoutedMessage =>
  (event as Extract<EndpointSessionEvent, { type: 'kp.published' }>).message as RoutedMessage;
const subackOf = (event: EndpointSessionEvent): SubscriptionAnswer =>
  (event as Extract<EndpointSessionEvent, { type: 'kp.subscribed' }>).subscription as SubscriptionAnswer;

const actions: SessionActions<EndpointSession, EndpointSessionContext, EndpointSessionEvent> = {
  requestIdentification: (session) => session.requestIdentification(),
  holdMessage: (session, _, event) => (session.held ??= []).push(messageOf(event)),
  holdSubscription: (session, _, event) => (session.heldSubscriptions ??= []).push(subackOf(event)),
  grantSubscription: (_, __, event) => subackOf(event)(true),
  refuseSubscription: (_, __, event) => subackOf(event)(false),
  grantHeldSubscriptions: (session) => session.answerHeldSubscriptions(true),
  refuseHeldSubscriptions: (session) => session.answerHeldSubscriptions(false),
  forwardHeldMessages: (session, context) => session.forwardHeld(context.endpointId!),
  forwardMessage: (session, context, event) => session.forward(messageOf(event), context.endpointId!),
  refuseMessage: (session, _, event, params: { statusCode: number; reasonPhrase: string }) =>
    session.owner.answerError(messageOf(event), params.statusCode, params.reasonPhrase),
  answerWithRejection: (session, context, event) => {
    const rejection = context.rejection!;
    const messages = event.type === 'kp.published' ? [messageOf(event)] : session.takeHeld();
    for (const message of messages) session.owner.answerError(message, rejection.statusCode, rejection.reasonPhrase);
  },
  answerUnavailable: (session) => {
    for (const message of session.takeHeld()) session.owner.answerError(message, 503, 'Service unavailable');
  },
  claimEndpoint: (session, context) => session.hub.directory.claimEndpoint(session, context.endpointId!),
  releaseEndpoint: (session, context) => session.hub.directory.releaseEndpoint(session, context.endpointId),
  announceConnected: (session, context) => session.hub.connectivity.announceConnected({ [context.endpointId!]: context.appVersionName }),
  announceDisconnected: (session, context) => session.hub.connectivity.announceDisconnected({ [context.endpointId!]: context.appVersionName }),
  countRoaming: (session) => session.hub.counters.roamed(),
};

/** What the chart does with a PUBLISH in states where it always does the same (see steady-reactions.ts). */
const publishReactions = new SteadyReactions(endpointSessionMachine, 'kp.published');

export class EndpointSession extends SteppedSession<SnapshotFrom<typeof endpointSessionMachine>, EndpointSessionEvent> {
  /** Messages that arrived while the token was being identified, in arrival order (none: undefined). */
  held: RoutedMessage[] | undefined;
  /** SUBACKs of SUBSCRIBE filters naming the token that wait for identification (none: undefined). */
  heldSubscriptions: SubscriptionAnswer[] | undefined;
  /**
   * This endpoint's traffic counters (see TrafficMeter): a small object of its own, so that a
   * remembered request counts its reply without holding the whole session.
   */
  readonly meter: MeteredEndpoint;

  constructor(
    readonly hub: EndpointSessionHub,
    readonly owner: EndpointOwner,
    readonly token: string,
    appName: string,
    appVersionName: string,
    actorId: string,
  ) {
    const input: EndpointSessionInput = {
      sessionId: actorId,
      appName,
      appVersionName,
      tokenHash: secretHash(token),
      identificationTimeoutMs: hub.settings.authenticationTimeoutMs,
      negativeCacheMs: hub.settings.negativeCacheMs,
      maxHeldMessages: hub.settings.maxHeldMessages,
    };
    super(hub, endpointSessionMachine, actorId, input);
    this.meter = { appName, clientTenantId: owner.tenantId, traffic: undefined, trafficInterval: 0 };
  }

  protected get actions(): typeof actions {
    return actions;
  }

  get appName(): string {
    return this.context.appName;
  }

  get appVersionName(): string {
    return this.context.appVersionName;
  }

  /** Requests identification (the chart's initial step). */
  start(): void {
    this.startChart();
  }

  get endpointId(): string | null {
    return this.context.endpointId;
  }

  get isActive(): boolean {
    return this.value === 'active';
  }

  /**
   * A PUBLISH for this token: the chart decides (forward, hold, answer with an error). Where its
   * answer is a steady reaction (while active: forwardMessage), the actions run without a step.
   */
  receive(message: RoutedMessage): void {
    const event = { type: 'kp.published', message } as const;
    const reactions = this.idle ? publishReactions.in(this) : undefined;
    if (reactions === undefined) this.send(event);
    else this.runSteady(reactions, event);
  }

  /** A SUBSCRIBE filter names this token: `answer` is its SUBACK, given when the chart decides. */
  subscribed(answer: SubscriptionAnswer): void {
    this.send({ type: 'kp.subscribed', subscription: answer });
  }

  answerHeldSubscriptions(granted: boolean): void {
    const waiting = this.heldSubscriptions;
    this.heldSubscriptions = undefined;
    for (const answer of waiting ?? []) answer(granted);
  }

  /**
   * Delivers an extension's push (ExtensionData that answers no remembered request) to this
   * endpoint's client, at QoS 1; false when its owner cannot push (HTTP).
   */
  deliverPush(topic: string, payload: Buffer, endpointId: string): boolean {
    if (!this.owner.acceptsPushes) return false;
    if (this.owner.deliver(topic, payload, 1)) this.hub.traffic.sent(this.meter, endpointId, payload.length);
    return true;
  }

  forward(message: RoutedMessage, endpointId: string): void {
    if (this.owner.forward(message, endpointId, this.meter)) this.hub.traffic.received(this.meter, endpointId, message.packet.payload.length);
  }

  forwardHeld(endpointId: string): void {
    for (const message of this.takeHeld()) this.forward(message, endpointId);
  }

  takeHeld(): RoutedMessage[] {
    const held = this.held ?? [];
    this.held = undefined;
    return held;
  }

  requestIdentification(): void {
    this.hub.tokens.validateToken(this.appName, this.token).then((outcome) =>
      this.send(
        outcome.ok
          ? {
              type: 'ecap.replied',
              statusCode: outcome.reply.statusCode,
              endpointId: outcome.reply.endpointId,
              tokenId: outcome.reply.tokenId,
              reasonPhrase: outcome.reply.reasonPhrase,
            }
          : { type: 'ecap.failed', reason: outcome.reason },
      ),
    );
  }

  /** Called by the supervisor when an action threw: answer what waits, stop routing to it. */
  discard(): void {
    for (const message of this.takeHeld()) this.owner.answerError(message, 503, 'Service unavailable');
    this.answerHeldSubscriptions(false);
    this.hub.directory.releaseEndpoint(this, this.endpointId);
  }

  /** Called by the supervisor once the session has finished. */
  forgotten(): void {
    this.hub.directory.endpointForgotten(this);
    this.owner.endpointFinished(this);
  }
}

/**
 * Ends an owner's endpoint sessions (its client left, it idled out, the service stops) and announces
 * in one 9/ELCE `disconnected` those it held: an endpoint another local session has taken over is
 * roamed, not gone. Returns how many were announced.
 */
export function endEndpointSessions(hub: EndpointSessionHub, endpoints: readonly EndpointSession[]): number {
  const disconnected: Record<string, string> = {};
  let count = 0;
  for (const endpoint of endpoints) {
    if (endpoint.isActive && hub.directory.holds(endpoint)) {
      disconnected[endpoint.endpointId!] = endpoint.appVersionName;
      count++;
    }
    endpoint.send({ type: 'session.ended' });
  }
  if (count > 0) hub.connectivity.announceDisconnected(disconnected);
  return count;
}
