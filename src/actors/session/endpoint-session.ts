// The live endpoint session: one token used by one owner, an MQTT client session (which holds a
// connection) or an HTTP session (which holds nothing but the identification, until it idles out).
// The chart (src/machines/endpoint-session.machine.ts) decides; this class carries the decisions out
// and owns what cannot live in a pure snapshot (the token, the messages waiting for identification).
// It talks to its owner only through the EndpointOwner port, so it never knows the transport.
import { createActor, type Actor, type AnyActorRef } from 'xstate';
import { endpointSessionMachine, type EndpointSessionEvent, type EndpointSessionInput } from '../../machines/endpoint-session.machine.js';
import type { SubscriptionAnswer, TokenValidator } from '../ports.js';
import type { RoutedMessage } from '../traffic/client-data-forwarder.js';
import type { MeteredEndpoint, TrafficMeter } from '../traffic/traffic-meter.js';
import { keepJournal, type Journal } from './journal.js';
import { secretHash } from './secret-hash.js';
import { runReactions, SteadyReactions } from './steady-reactions.js';
import type { SharedHub, Supervision } from './session-hub.js';

/** The registry's endpoint bookkeeping, as an endpoint session sees it. */
export interface EndpointDirectory extends Supervision {
  /** This endpoint session now receives the endpoint's pushes; any other local one is roamed. */
  claimEndpoint(session: EndpointSession, endpointId: string): void;
  releaseEndpoint(session: EndpointSession, endpointId: string | null): void;
  /** The session's actor has finished: it holds and is identified as nothing any more. */
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

const live = new WeakMap<AnyActorRef, EndpointSession>();
const on = (self: AnyActorRef): EndpointSession => live.get(self)!;
const messageOf = (event: EndpointSessionEvent): RoutedMessage =>
  (event as Extract<EndpointSessionEvent, { type: 'kp.published' }>).message as RoutedMessage;
const subackOf = (event: EndpointSessionEvent): SubscriptionAnswer =>
  (event as Extract<EndpointSessionEvent, { type: 'kp.subscribed' }>).subscription as SubscriptionAnswer;

// Actions receive the context of the transition being taken; getSnapshot() inside an action would
// still show the previous snapshot, so everything an action needs comes from its arguments.
export const endpointSessionLogic = endpointSessionMachine.provide({
  actions: {
    requestIdentification: ({ self }) => on(self).requestIdentification(),
    holdMessage: ({ self, event }) => on(self).held.push(messageOf(event)),
    holdSubscription: ({ self, event }) => on(self).heldSubscriptions.push(subackOf(event)),
    grantSubscription: ({ event }) => subackOf(event)(true),
    refuseSubscription: ({ event }) => subackOf(event)(false),
    grantHeldSubscriptions: ({ self }) => on(self).answerHeldSubscriptions(true),
    refuseHeldSubscriptions: ({ self }) => on(self).answerHeldSubscriptions(false),
    forwardHeldMessages: ({ self, context }) => on(self).forwardHeld(context.endpointId!),
    forwardMessage: ({ self, context, event }) => on(self).forward(messageOf(event), context.endpointId!),
    refuseMessage: ({ self, event }, params) => on(self).owner.answerError(messageOf(event), params.statusCode, params.reasonPhrase),
    answerWithRejection: ({ self, context, event }) => {
      const rejection = context.rejection!;
      const messages = event.type === 'kp.published' ? [messageOf(event)] : on(self).takeHeld();
      for (const message of messages) on(self).owner.answerError(message, rejection.statusCode, rejection.reasonPhrase);
    },
    answerUnavailable: ({ self }) => {
      for (const message of on(self).takeHeld()) on(self).owner.answerError(message, 503, 'Service unavailable');
    },
    claimEndpoint: ({ self, context }) => on(self).hub.directory.claimEndpoint(on(self), context.endpointId!),
    releaseEndpoint: ({ self, context }) => on(self).hub.directory.releaseEndpoint(on(self), context.endpointId),
    announceConnected: ({ self, context }) =>
      on(self).hub.connectivity.announceConnected({ [context.endpointId!]: context.appVersionName }),
    announceDisconnected: ({ self, context }) =>
      on(self).hub.connectivity.announceDisconnected({ [context.endpointId!]: context.appVersionName }),
    countRoaming: ({ self }) => on(self).hub.counters.roamed(),
  },
});

/** What the chart does with a PUBLISH in states where it always does the same (see steady-reactions.ts). */
const publishReactions = new SteadyReactions(endpointSessionLogic, 'kp.published');

export class EndpointSession {
  readonly actor: Actor<typeof endpointSessionLogic>;
  readonly journal: Journal;
  private readonly input: EndpointSessionInput;
  /** Messages that arrived while the token was being identified, in arrival order. */
  held: RoutedMessage[] = [];
  /** SUBACKs of SUBSCRIBE filters naming the token that wait for identification. */
  heldSubscriptions: SubscriptionAnswer[] = [];
  /**
   * This endpoint's traffic counters (see TrafficMeter): a small object of its own, so that a
   * remembered request counts its reply without holding the whole session.
   */
  readonly meter: MeteredEndpoint;

  constructor(
    readonly hub: EndpointSessionHub,
    readonly owner: EndpointOwner,
    readonly token: string,
    readonly appName: string,
    readonly appVersionName: string,
    readonly actorId: string,
  ) {
    this.input = {
      sessionId: actorId,
      appName,
      appVersionName,
      tokenHash: secretHash(token),
      identificationTimeoutMs: hub.settings.authenticationTimeoutMs,
      negativeCacheMs: hub.settings.negativeCacheMs,
      maxHeldMessages: hub.settings.maxHeldMessages,
    };
    this.meter = { appName, clientTenantId: owner.tenantId, traffic: undefined, trafficInterval: 0 };
    this.actor = createActor(endpointSessionLogic, { id: actorId, parent: hub.directory.supervisor, input: this.input });
    this.journal = hub.newJournal(endpointSessionMachine, actorId);
    keepJournal(this.actor, this.journal);
    live.set(this.actor, this);
    hub.directory.supervise(actorId, this);
  }

  static of(actor: AnyActorRef): EndpointSession | undefined {
    return live.get(actor);
  }

  start(): void {
    this.journal.received({ type: 'xstate.init', input: this.input });
    this.actor.start();
  }

  get endpointId(): string | null {
    return this.actor.getSnapshot().context.endpointId;
  }

  get isActive(): boolean {
    return this.actor.getSnapshot().value === 'active';
  }

  get isFinished(): boolean {
    return this.actor.getSnapshot().status !== 'active';
  }

  /**
   * A PUBLISH for this token: the chart decides (forward, hold, answer with an error). Where its
   * answer is a steady reaction (while active: forwardMessage), the actions run without a macrostep.
   */
  receive(message: RoutedMessage): void {
    const event = { type: 'kp.published', message } as const;
    const snapshot = this.actor.getSnapshot();
    const reactions = publishReactions.in(snapshot);
    if (reactions === undefined || !this.journal.caughtUp) return this.send(event);
    this.journal.record(event, snapshot.value);
    runReactions(reactions, snapshot, event, this.actor);
  }

  /** Every event reaches the chart through here, and is journaled as it is sent. */
  send(event: EndpointSessionEvent): void {
    if (this.actor.getSnapshot().status !== 'active') return; // ended: nothing more happens to it
    this.journal.received(event);
    this.actor.send(event);
  }

  /** A SUBSCRIBE filter names this token: `answer` is its SUBACK, given when the chart decides. */
  subscribed(answer: SubscriptionAnswer): void {
    this.send({ type: 'kp.subscribed', subscription: answer });
  }

  answerHeldSubscriptions(granted: boolean): void {
    const waiting = this.heldSubscriptions;
    this.heldSubscriptions = [];
    for (const answer of waiting) answer(granted);
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
    const held = this.held;
    this.held = [];
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

  /** Called by the supervisor when this actor threw: answer what waits, stop routing to it. */
  discard(): void {
    for (const message of this.takeHeld()) this.owner.answerError(message, 503, 'Service unavailable');
    this.answerHeldSubscriptions(false);
    this.hub.directory.releaseEndpoint(this, this.endpointId);
  }

  /** Called by the supervisor once the actor has finished. */
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
