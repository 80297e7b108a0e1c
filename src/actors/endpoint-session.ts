// The live endpoint session: one token in one client session. The chart
// (src/machines/endpoint-session.machine.ts) decides; this class carries the decisions out and owns
// what cannot live in a pure snapshot (the token, the messages waiting for identification).
import { createActor, type Actor, type AnyActorRef } from 'xstate';
import { endpointSessionMachine, type EndpointSessionEvent } from '../machines/endpoint-session.machine.js';
import { secretHash } from '../infra/logger.js';
import type { RoutedMessage } from './client-data-forwarder.js';
import type { ClientSession } from './client-session.js';
import type { SessionHub } from './session-hub.js';
import type { Journal } from './journal.js';

const live = new WeakMap<AnyActorRef, EndpointSession>();
const on = (self: AnyActorRef): EndpointSession => live.get(self)!;
const messageOf = (event: EndpointSessionEvent): RoutedMessage =>
  (event as Extract<EndpointSessionEvent, { type: 'kp.published' }>).message as RoutedMessage;

// Actions receive the context of the transition being taken; getSnapshot() inside an action would
// still show the previous snapshot, so everything an action needs comes from its arguments.
export const endpointSessionLogic = endpointSessionMachine.provide({
  actions: {
    requestIdentification: ({ self }) => on(self).requestIdentification(),
    holdMessage: ({ self, event }) => on(self).held.push(messageOf(event)),
    forwardHeldMessages: ({ self, context }) => on(self).forwardHeld(context.endpointId!),
    forwardMessage: ({ self, context, event }) => on(self).forward(messageOf(event), context.endpointId!),
    refuseMessage: ({ self, event }, params) => on(self).client.answerError(messageOf(event), params.statusCode, params.reasonPhrase),
    answerWithRejection: ({ self, context, event }) => {
      const rejection = context.rejection!;
      const messages = event.type === 'kp.published' ? [messageOf(event)] : on(self).takeHeld();
      for (const message of messages) on(self).client.answerError(message, rejection.statusCode, rejection.reasonPhrase);
    },
    answerUnavailable: ({ self }) => {
      for (const message of on(self).takeHeld()) on(self).client.answerError(message, 503, 'Service unavailable');
    },
    claimEndpoint: ({ self, context }) => on(self).hub.directory.claimEndpoint(on(self), context.endpointId!),
    releaseEndpoint: ({ self, context }) => on(self).hub.directory.releaseEndpoint(on(self), context.endpointId),
    announceConnected: ({ self, context }) =>
      on(self).hub.connectivity.announceConnected({ [context.endpointId!]: context.appVersionName }),
    announceDisconnected: ({ self, context }) =>
      on(self).hub.connectivity.announceDisconnected({ [context.endpointId!]: context.appVersionName }),
  },
});

export class EndpointSession {
  readonly actor: Actor<typeof endpointSessionLogic>;
  readonly journal: Journal;
  /** Messages that arrived while the token was being identified, in arrival order. */
  held: RoutedMessage[] = [];

  constructor(
    readonly hub: SessionHub,
    readonly client: ClientSession,
    readonly token: string,
    readonly appName: string,
    readonly appVersionName: string,
    readonly actorId: string,
  ) {
    this.journal = hub.newJournal(endpointSessionLogic);
    this.actor = createActor(endpointSessionLogic, {
      id: actorId,
      parent: hub.directory.supervisor,
      input: {
        sessionId: actorId,
        appName,
        appVersionName,
        tokenHash: secretHash(token),
        identificationTimeoutMs: hub.settings.authenticationTimeoutMs,
        negativeCacheMs: hub.settings.negativeCacheMs,
        maxHeldMessages: hub.settings.maxHeldMessages,
      },
    });
    live.set(this.actor, this);
    hub.directory.supervise(actorId, this);
  }

  static of(actor: AnyActorRef): EndpointSession | undefined {
    return live.get(actor);
  }

  start(): void {
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

  /** The hot path: an active session forwards without an event; otherwise the chart decides. */
  receive(message: RoutedMessage): void {
    const snapshot = this.actor.getSnapshot();
    if (snapshot.value === 'active') this.forward(message, snapshot.context.endpointId!);
    else this.actor.send({ type: 'kp.published', message });
  }

  send(event: EndpointSessionEvent): void {
    this.actor.send(event);
  }

  /** Delivers an extension's push (SPEC §6 rule 2) to this endpoint's client. */
  deliverPush(topic: string, payload: Buffer): void {
    this.client.deliver(topic, payload, 1);
  }

  forward(message: RoutedMessage, endpointId: string): void {
    this.hub.forwarder.forward(this.client.connectionId, message, endpointId);
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
    this.hub.credentials.validateToken(this.appName, this.token).then((outcome) =>
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
    for (const message of this.takeHeld()) this.client.answerError(message, 503, 'Service unavailable');
    this.hub.directory.releaseEndpoint(this, this.endpointId);
  }

  /** Called by the supervisor once the actor has finished. */
  forgotten(): void {
    this.client.endpointFinished(this);
  }
}
