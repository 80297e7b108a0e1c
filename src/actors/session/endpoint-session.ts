// The live endpoint session: one token used by one owner, an MQTT client session (which holds a
// connection) or an HTTP session (which holds nothing but the identification, until it idles out).
// The chart (src/machines/endpoint-session.machine.ts) decides; this class carries the decisions out
// and owns what cannot live in a pure snapshot (the token, the messages waiting for identification).
// It talks to its owner only through the EndpointOwner port, so it never knows the transport.
//
// It is not an xstate actor: a client may hold many endpoint sessions for as long as it is connected,
// and an actor carries per instance what these sessions never use (a mailbox, listeners, observers,
// inspection, a system). The session holds only its chart's snapshot and steps it with xstate's pure
// transition(): the same chart decides every step; the session then runs the actions it returns, in
// order, by name (below), owns the one timer a state's `after` needs while it is pending, journals
// each event, and reports its end to the registry as an actor's parent would hear of it.
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import {
  endpointSessionMachine, type EndpointSessionContext, type EndpointSessionEvent, type EndpointSessionInput,
} from '../../machines/endpoint-session.machine.js';
import type { SubscriptionAnswer, TokenValidator } from '../ports.js';
import type { RoutedMessage } from '../traffic/client-data-forwarder.js';
import type { MeteredEndpoint, TrafficMeter } from '../traffic/traffic-meter.js';
import type { Journal } from './journal.js';
import { secretHash } from './secret-hash.js';
import { SteadyReactions, type Reaction } from './steady-reactions.js';
import type { SharedHub, Supervised, Supervision } from './session-hub.js';

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

export type EndpointSessionSnapshot = SnapshotFrom<typeof endpointSessionMachine>;

const messageOf = (event: EndpointSessionEvent): RoutedMessage =>
  (event as Extract<EndpointSessionEvent, { type: 'kp.published' }>).message as RoutedMessage;
const subackOf = (event: EndpointSessionEvent): SubscriptionAnswer =>
  (event as Extract<EndpointSessionEvent, { type: 'kp.subscribed' }>).subscription as SubscriptionAnswer;

type ActionImplementation = (session: EndpointSession, context: EndpointSessionContext, event: EndpointSessionEvent, params: never) => void;

/**
 * What each action the chart names does. transition() applies the chart's assigns itself and hands
 * every other action the context as it is at that point of the step (after the assigns before it).
 */
const actions: Record<string, ActionImplementation> = {
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

/** An action transition() returns: a named one of the chart's, or xstate's raise/cancel of a delayed event. */
interface StepAction {
  type: string;
  params?: unknown;
  info: { context: EndpointSessionContext; event: EndpointSessionEvent };
}
/** `after` is a delayed raise of the event `xstate.after.<delay>.<state id>`, cancelled when the state is left. */
interface DelayedRaise {
  event: EndpointSessionEvent;
  id: string;
  delay: number;
}

/** What the chart does with a PUBLISH in states where it always does the same (see steady-reactions.ts). */
const publishReactions = new SteadyReactions(endpointSessionMachine, 'kp.published');

export class EndpointSession implements Supervised {
  /** The chart's current snapshot: the session's whole state as the chart sees it. */
  snapshot: EndpointSessionSnapshot;
  readonly journal: Journal;
  /** Messages that arrived while the token was being identified, in arrival order (none: undefined). */
  held: RoutedMessage[] | undefined;
  /** SUBACKs of SUBSCRIBE filters naming the token that wait for identification (none: undefined). */
  heldSubscriptions: SubscriptionAnswer[] | undefined;
  /**
   * This endpoint's traffic counters (see TrafficMeter): a small object of its own, so that a
   * remembered request counts its reply without holding the whole session.
   */
  readonly meter: MeteredEndpoint;
  /** The pending `after` of the current state, if any (the chart has at most one per state). */
  private timer: { id: string; handle: unknown } | undefined;
  /** Events sent while an event was being processed: they wait their turn, as in an actor's mailbox. */
  private mailbox: EndpointSessionEvent[] | undefined;
  private processing = false;
  /** An action threw: the session does nothing more; the registry discards it. */
  private failed = false;
  /** The initial step's actions, run by start(). */
  private initialActions: readonly StepAction[] | undefined;

  constructor(
    readonly hub: EndpointSessionHub,
    readonly owner: EndpointOwner,
    readonly token: string,
    appName: string,
    appVersionName: string,
    readonly actorId: string,
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
    this.meter = { appName, clientTenantId: owner.tenantId, traffic: undefined, trafficInterval: 0 };
    const [snapshot, initialActions] = initialTransition(endpointSessionMachine, input);
    this.snapshot = snapshot;
    this.initialActions = initialActions as unknown as StepAction[];
    this.journal = hub.newJournal(endpointSessionMachine, actorId);
    this.journal.record({ type: 'xstate.init', input }, snapshot.value);
    hub.directory.supervise(actorId, this);
  }

  get appName(): string {
    return this.snapshot.context.appName;
  }

  get appVersionName(): string {
    return this.snapshot.context.appVersionName;
  }

  /** Runs the chart's initial step (identification requested, its timeout started). */
  start(): void {
    const initialActions = this.initialActions;
    if (initialActions === undefined) return;
    this.initialActions = undefined;
    this.carryOut(initialActions);
    this.processMailbox();
  }

  get endpointId(): string | null {
    return this.snapshot.context.endpointId;
  }

  get isActive(): boolean {
    return this.snapshot.value === 'active';
  }

  get isFinished(): boolean {
    return this.failed || this.snapshot.status !== 'active';
  }

  /**
   * A PUBLISH for this token: the chart decides (forward, hold, answer with an error). Where its
   * answer is a steady reaction (while active: forwardMessage), the actions run without a step.
   */
  receive(message: RoutedMessage): void {
    const event = { type: 'kp.published', message } as const;
    const reactions = this.processing || this.failed ? undefined : publishReactions.in(this.snapshot);
    if (reactions === undefined) return this.send(event);
    this.journal.record(event, this.snapshot.value);
    this.runReactions(reactions, event);
  }

  /** Every event reaches the chart through here, and is journaled as the chart takes it. */
  send(event: EndpointSessionEvent): void {
    if (this.isFinished) return; // ended: nothing more happens to it
    if (this.processing) {
      (this.mailbox ??= []).push(event);
      return;
    }
    this.step(event);
    this.processMailbox();
  }

  private processMailbox(): void {
    while (this.mailbox !== undefined) {
      const next = this.mailbox.shift()!;
      if (this.mailbox.length === 0) this.mailbox = undefined;
      if (!this.isFinished) this.step(next);
    }
  }

  /** One step of the chart: the next snapshot, journaled, then its actions carried out. */
  private step(event: EndpointSessionEvent): void {
    const [next, stepActions] = transition(endpointSessionMachine, this.snapshot, event);
    this.snapshot = next;
    this.journal.record(event, next.value);
    this.carryOut(stepActions as unknown as StepAction[]);
    if (next.status === 'done' && !this.failed) {
      this.clearTimer();
      this.hub.directory.report({ type: 'session.finished', actorId: this.actorId });
    }
  }

  /** A step's actions, in order; events the session is sent meanwhile wait in its mailbox. */
  private carryOut(stepActions: readonly StepAction[]): void {
    this.processing = true;
    try {
      for (const action of stepActions) {
        if (action.type === 'xstate.raise') this.startTimer(action.params as DelayedRaise);
        else if (action.type === 'xstate.cancel') this.cancelTimer((action.params as { sendId: string }).sendId);
        else this.run(action, action.info.context, action.info.event);
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.processing = false;
    }
  }

  private runReactions(reactions: readonly Reaction[], event: EndpointSessionEvent): void {
    this.processing = true;
    try {
      for (const reaction of reactions) this.run(reaction, this.snapshot.context, event);
    } catch (error) {
      this.fail(error);
    } finally {
      this.processing = false;
    }
    this.processMailbox();
  }

  private run({ type, params }: { type: string; params?: unknown }, context: EndpointSessionContext, event: EndpointSessionEvent): void {
    const implementation = actions[type];
    if (implementation === undefined) throw new Error(`the endpoint session chart names an action this session does not implement: ${type}`);
    implementation(this, context, event, params as never);
  }

  /** As an actor that threw: nothing more happens to it; the registry discards it (see discard()). */
  private fail(error: unknown): void {
    this.failed = true;
    this.clearTimer();
    this.mailbox = undefined;
    this.hub.directory.report({ type: 'session.failed', actorId: this.actorId, error });
  }

  private startTimer({ event, id, delay }: DelayedRaise): void {
    this.clearTimer();
    const { clock } = this.hub.directory;
    const handle = clock.setTimeout(() => {
      this.timer = undefined;
      this.send(event);
    }, delay);
    this.timer = { id, handle };
  }

  private cancelTimer(id: string): void {
    if (this.timer?.id === id) this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.hub.directory.clock.clearTimeout(this.timer.handle);
    this.timer = undefined;
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
