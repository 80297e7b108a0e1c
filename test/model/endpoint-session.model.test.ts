// The endpoint session chart as a test model, driven through the live wiring: a connected device
// publishes with its endpoint token (the first PUBLISH creates the live endpoint session, "the
// subject"), ECAP answers the token validation, ELCE and revocation events arrive through the
// Registry, the client disconnects. At every state we check the fate of every message the device
// published (held, forwarded as ClientData in order, or answered with a 1/KP error on
// `<topic>/error`), ELCE announcements, and where the Registry routes pushes for the endpoint.
import { describe, expect, it } from 'vitest';
import type { EndpointSession } from '../../src/actors/session/endpoint-session.js';
import type { EndpointSessionEvent } from '../../src/machines/endpoint-session.machine.js';
import { endpointSessionModel, OTHER_REPLICA } from './support/events.js';
import {
  APP_NAME, APP_VERSION, AUTHENTICATION_TIMEOUT_MS, ENDPOINT_ID, Harness, NEGATIVE_CACHE_MS, REPLICA_ID, TOKEN, type Client,
  commandFilter, ecapFailure, pushTopic, tokenReply, tokenTopic, type PublishedMessage, type SubscribedFilter,
} from './support/harness.js';
import { generatePaths, type Params } from './support/paths.js';
import { ModelRun, type StateCheck, type Stimulus } from './support/run.js';

type Event<T extends EndpointSessionEvent['type']> = Extract<EndpointSessionEvent, { type: T }>;
const DEVICE = 'device-1';
const TOO_MANY = { statusCode: 503, reasonPhrase: 'Too many messages waiting for endpoint identification' };
const UNAVAILABLE = { statusCode: 503, reasonPhrase: 'Service unavailable' };

class World {
  readonly run = new ModelRun(endpointSessionModel);
  readonly harness = new Harness({ anonymousAllowed: true });
  readonly device: Client;
  /** The endpoint session the model stands for. */
  readonly subject: EndpointSession;
  /** Every PUBLISH the device made with its token, in order. */
  readonly messages: PublishedMessage[] = [];
  /** Per message: whether it arrived while the model already held the maximum. */
  readonly arrivedAtBound: boolean[] = [];
  /** Every SUBSCRIBE filter naming the token, and per filter whether it arrived at the bound. */
  readonly subscriptions: SubscribedFilter[] = [];
  readonly subscribedAtBound: boolean[] = [];
  /** The second local session that takes the endpoint over, in the local-roaming paths. */
  other: Client | undefined;

  constructor() {
    this.device = this.harness.connect(DEVICE);
    expect(this.device.connection.connacks).toEqual([0]);
    // The first PUBLISH with the token creates the endpoint session, which holds it at once.
    this.publish();
    this.subject = this.device.session.endpointSessions[0]!;
  }

  params(): Params {
    return this.run.params(this.stimuli(), this.checks(), (model) => {
      const live = this.subject.snapshot;
      expect(live.value, 'live endpoint session state').toBe(model.value);
      const facts = ({ endpointId, tokenId, rejection }: typeof live.context) => ({ endpointId, tokenId, rejection });
      expect(facts(live.context), 'live endpoint session context').toEqual(facts(model.context as typeof live.context));
      // The live session also holds the PUBLISH that created it.
      if (model.value === 'identifying') expect(live.context.heldMessages).toBe((model.context.heldMessages as number) + 1);
    });
  }

  private publish(): void {
    this.arrivedAtBound.push(this.atBound());
    this.messages.push(this.harness.publish(this.device, tokenTopic(this.messages.length + 1)));
  }

  private subscribe(): void {
    this.subscribedAtBound.push(this.atBound());
    this.subscriptions.push(this.harness.subscribe(this.device, commandFilter(this.subscriptions.length + 1)));
  }

  /** Whether the model state the PUBLISH or SUBSCRIBE arrives in (ModelRun has stepped past it) held the maximum. */
  private atBound(): boolean {
    const arrivedIn = this.run.previous ?? this.run.snapshot;
    const { heldMessages, maxHeldMessages } = arrivedIn.context as { heldMessages: number; maxHeldMessages: number };
    return arrivedIn.value === 'identifying' && heldMessages >= maxHeldMessages;
  }

  private stimuli(): Record<string, Stimulus> {
    const { harness } = this;
    return {
      'kp.published': () => this.publish(),
      'kp.subscribed': () => this.subscribe(),
      'ecap.replied': (event: Event<'ecap.replied'>) =>
        harness.credentials.answer('token', tokenReply(event.statusCode, event.endpointId, event.tokenId, event.reasonPhrase)),
      'ecap.failed': () => harness.credentials.answer('token', ecapFailure('nats-unavailable')),
      'xstate.after.identificationTimeout.endpointSession.identifying': () => harness.clock.increment(AUTHENTICATION_TIMEOUT_MS),
      'xstate.after.negativeCache.endpointSession.rejected': () => harness.clock.increment(NEGATIVE_CACHE_MS),
      'elce.connected': async (event: Event<'elce.connected'>) => {
        if (event.originatorReplicaId === REPLICA_ID) return this.anotherLocalSessionTakesTheEndpoint();
        harness.registry.endpointsConnected({ endpoints: { [ENDPOINT_ID]: APP_VERSION }, originatorReplicaId: OTHER_REPLICA });
      },
      'token.revoked': (event: Event<'token.revoked'>) => harness.registry.tokenRevoked(ENDPOINT_ID, event.tokenIds),
      'session.ended': () => this.device.session.disconnected('keepalive timeout'),
    };
  }

  /** Local roaming: a second client on this replica, with another token of the same endpoint. */
  private async anotherLocalSessionTakesTheEndpoint(): Promise<void> {
    const { harness } = this;
    harness.announcer.during = 'other session';
    this.other = harness.connect('device-2');
    harness.publish(this.other, tokenTopic(1, 'second-token'));
    harness.credentials.answer('token', tokenReply(200, ENDPOINT_ID, 'token-id-2', null));
    await new Promise(setImmediate);
    harness.announcer.during = 'subject';
  }

  // ---- what the outside world saw ----

  /** What became of each PUBLISH: 'waiting', 'forwarded', or the 1/KP error it was answered with. */
  private fates(): string[] {
    return this.messages.map((message) => {
      const forwarded = this.harness.forwarder.forwarded.filter((f) => f.topic === message.topic);
      const errors = this.device.connection.errorsFor(message.topic);
      if (forwarded.length + errors.length > 1 || message.acks > 1) return `answered twice: ${message.topic}`;
      if (forwarded.length === 1) return forwarded[0]!.endpointId === ENDPOINT_ID && message.acks === 1 ? 'forwarded' : 'forwarded badly';
      if (errors.length === 1) return message.acks === 1 ? `${errors[0]!.statusCode} ${errors[0]!.reasonPhrase}` : 'error without ack';
      return message.acks === 0 ? 'waiting' : 'acknowledged silently';
    });
  }

  /**
   * A PUBLISH that arrived while the maximum was already held was refused at once. Every other one
   * shares the fate identification ended with: held until then, then forwarded in order (and
   * forwarded directly afterwards), or answered with the rejection or 503; when the client left
   * first, nobody answers them any more.
   */
  private expectFates(): void {
    const resolvedAs = (this.run.trail.find((state) => state !== 'identifying') ?? 'identifying') as string;
    const rejection = this.run.snapshot.context.rejection as { statusCode: number; reasonPhrase: string } | null;
    const fate: Record<string, string> = {
      identifying: 'waiting',
      closed: 'waiting',
      active: 'forwarded',
      unavailable: `${UNAVAILABLE.statusCode} ${UNAVAILABLE.reasonPhrase}`,
      rejected: `${rejection?.statusCode} ${rejection?.reasonPhrase}`,
    };
    const tooMany = `${TOO_MANY.statusCode} ${TOO_MANY.reasonPhrase}`;
    const expected = this.arrivedAtBound.map((atBound) => (atBound ? tooMany : fate[resolvedAs]!));
    expect(this.fates(), 'what became of each PUBLISH').toEqual(expected);
    const forwardedInOrder = this.messages.filter((_, i) => expected[i] === 'forwarded').map((message) => message.topic);
    expect(this.harness.forwarder.of(DEVICE), 'ClientData in publish order').toEqual(forwardedInOrder);
    this.expectSubacks(resolvedAs);
  }

  /**
   * A SUBSCRIBE naming the token shares the fate of a message: refused at the bound; otherwise its
   * SUBACK waits for identification, then grants it (active) or refuses it (rejected, unavailable);
   * when the client left first, nobody answers it.
   */
  private expectSubacks(resolvedAs: string): void {
    const outcome: Record<string, string> = { identifying: 'waiting', closed: 'waiting', active: 'granted', unavailable: 'refused', rejected: 'refused' };
    const expected = this.subscribedAtBound.map((atBound) => (atBound ? 'refused' : outcome[resolvedAs]!));
    const seen = this.subscriptions.map(({ subacks }) => (subacks.length === 0 ? 'waiting' : subacks.length > 1 ? 'answered twice' : subacks[0]!));
    expect(seen, 'the SUBACK of each SUBSCRIBE naming the token').toEqual(expected);
  }

  /** Where a push for the endpoint goes, routed as the ExtensionData router does: via holderOf(). */
  private pushReaches(): 'device' | 'other session' | 'nobody' {
    const before = [this.device.connection.deliveredTo(pushTopic), this.other?.connection.deliveredTo(pushTopic) ?? 0];
    this.harness.registry.holderOf(ENDPOINT_ID)?.deliverPush(pushTopic, Buffer.from('{"command":"reboot"}'), ENDPOINT_ID);
    if (this.device.connection.deliveredTo(pushTopic) > before[0]!) return 'device';
    if ((this.other?.connection.deliveredTo(pushTopic) ?? 0) > before[1]!) return 'other session';
    return 'nobody';
  }

  /** ELCE announcements made by the subject (all must name its endpoint). */
  private announced(kind: 'connected' | 'disconnected'): number {
    const announcements = this.harness.announcer.of(kind);
    for (const endpoints of announcements) expect(endpoints).toEqual({ [ENDPOINT_ID]: APP_VERSION });
    return announcements.length;
  }

  /** A finished session is forgotten: the next PUBLISH with the token is validated again, in a new session. */
  private nextMessageStartsOver(): void {
    const asked = this.harness.credentials.asked('token').length;
    this.harness.publish(this.device, tokenTopic(1000));
    expect(this.harness.credentials.asked('token').length, 'a new validation').toBe(asked + 1);
    expect(this.device.session.endpointSessions).not.toContain(this.subject);
  }

  private checks(): Record<string, StateCheck> {
    const pushGoesElsewhere = () => expect(this.pushReaches()).toBe(this.other === undefined ? 'nobody' : 'other session');
    return {
      identifying: () => {
        expect(this.harness.credentials.asked('token').map((r) => r.asked), 'the token was sent to ECAP once').toEqual([[APP_NAME, TOKEN]]);
        expect(this.harness.credentials.pending('token')).toHaveLength(1);
        this.expectFates();
        expect(this.announced('connected')).toBe(0);
        expect(this.pushReaches()).toBe('nobody');
      },

      active: () => {
        this.expectFates();
        expect(this.announced('connected'), 'ELCE connected, each time it became active').toBe(this.run.entries('active'));
        expect(this.announced('disconnected')).toBe(0);
        expect(this.pushReaches()).toBe('device');
      },

      roamed: () => {
        this.expectFates();
        expect(this.announced('disconnected'), 'roaming announces nothing').toBe(0);
        pushGoesElsewhere();
      },

      rejected: () => {
        this.expectFates();
        expect(this.announced('connected')).toBe(0);
        expect(this.pushReaches()).toBe('nobody');
      },

      unavailable: () => {
        this.expectFates();
        expect(this.announced('connected')).toBe(0);
        this.nextMessageStartsOver();
      },

      revoked: () => {
        this.expectFates();
        // Only the holder of the endpoint announces it gone; a roamed session has nothing to announce.
        expect(this.announced('disconnected')).toBe(this.run.cameFrom === 'active' ? 1 : 0);
        pushGoesElsewhere();
        expect(this.device.connection.closes, 'the client stays connected').toEqual([]);
        this.nextMessageStartsOver();
      },

      expired: () => {
        this.expectFates();
        this.nextMessageStartsOver();
      },

      closed: () => {
        expect(this.device.session.state).toBe('closed');
        this.expectFates();
        expect(this.announced('disconnected'), 'ELCE disconnected iff it held the endpoint').toBe(this.run.cameFrom === 'active' ? 1 : 0);
        pushGoesElsewhere();
      },
    };
  }
}

describe('endpoint session chart, driven through the live actors', () => {
  for (const path of generatePaths(endpointSessionModel).paths) {
    it(path.description, async () => {
      await path.test(new World().params());
    });
  }
});
