// The client session chart as a test model: every generated path is replayed against the live
// Registry/ClientSession wiring through real-world stimuli (a CONNECT, an ECAP answer, a
// revocation event, a disconnect, SIGTERM …), and at every state we check what the outside world
// saw: CONNACKs, closed connections, ELCE announcements, validation requests.
//
// Once connected, the device publishes with its endpoint token (and ECAP accepts it), so that the
// ends of the session have an endpoint to announce disconnected.
import { describe, expect, it, vi } from 'vitest';
import type { EventObject } from 'xstate';
import type { ClientSessionEvent } from '../../src/machines/client-session.machine.js';
import { clientSessionModel, TOKEN_ID } from './support/events.js';
import {
  APP_VERSION, AUTHENTICATION_TIMEOUT_MS, CERTIFICATE, ENDPOINT_ID, Harness, PASSWORD, type Client, credentialReply, ecapFailure,
  settle, tokenReply, tokenTopic,
} from './support/harness.js';
import { generatePaths, type Params } from './support/paths.js';
import { ModelRun, type StateCheck, type Stimulus } from './support/run.js';

type Event<T extends ClientSessionEvent['type']> = Extract<ClientSessionEvent, { type: T }>;
const MQTT_CLIENT_ID = 'device-1';

class World {
  readonly run = new ModelRun(clientSessionModel);
  harness: Harness | undefined;
  client: Client | undefined;
  connect: Event<'mqtt.connect'> | undefined;

  get live(): { harness: Harness; client: Client } {
    if (this.harness === undefined || this.client === undefined) throw new Error('no CONNECT has reached KPC yet');
    return { harness: this.harness, client: this.client };
  }

  params(): Params {
    return this.run.params(this.stimuli(), this.checks(), (model) => {
      if (this.client === undefined) return; // connecting: no live actor yet
      const live = this.client.session.snapshot;
      expect(live.value, 'live client session state').toBe(model.value);
      const facts = ({ awaiting, clientId, credentialIds, endReason, username }: typeof live.context) =>
        ({ awaiting, clientId, credentialIds, endReason, username });
      expect(facts(live.context), 'live client session context').toEqual(facts(model.context as typeof live.context));
    });
  }

  private stimuli(): Record<string, Stimulus> {
    const then = (stimulus: Stimulus): Stimulus => async (event: never) => {
      await stimulus(event);
      await settle();
      await this.deviceUsesItsEndpoint();
    };
    return {
      // The hub's settings and NATS state are part of what the CONNECT meets: the live system is
      // built for it.
      'mqtt.connect': then((event: Event<'mqtt.connect'>) => {
        this.connect = event;
        this.harness = new Harness({
          anonymousAllowed: event.anonymousAllowed,
          natsConnected: event.serviceAvailable,
          authenticationSlots: event.authenticationSlotFree ? 100 : 0,
        });
        this.client = this.harness.connect(MQTT_CLIENT_ID, {
          username: event.username ?? undefined,
          password: event.passwordPresent ? PASSWORD : undefined,
          certificate: event.certificate === 'none' ? undefined : { ...CERTIFICATE, trusted: event.certificate === 'trusted' },
        });
      }),
      'ecap.replied': then((event: Event<'ecap.replied'>) =>
        this.live.harness.credentials.answer(event.kind, credentialReply(event.statusCode, event.clientId, event.credentialId))),
      'ecap.failed': then((event: Event<'ecap.failed'>) => this.live.harness.credentials.answer(event.kind, ecapFailure('nats-unavailable'))),
      'xstate.after.authenticationTimeout.clientSession.authenticating': then(() => this.live.harness.clock.increment(AUTHENTICATION_TIMEOUT_MS)),
      'credential.revoked': then((event: Event<'credential.revoked'>) =>
        expect(this.live.harness.registry.credentialRevoked(event.credentialId), 'sessions revoked').toBe(1)),
      'mqtt.disconnected': then((event: Event<'mqtt.disconnected'>) => this.live.client.session.disconnected(event.reason)),
      'admin.disconnected': then(() => expect(this.live.harness.registry.inspection.disconnectByAdmin(MQTT_CLIENT_ID)).toBe(true)),
      'service.stopping': then(() => this.live.harness.registry.shutdown('SIGTERM')),
    };
  }

  /** Once connected, the device publishes with its token and ECAP identifies it. */
  private async deviceUsesItsEndpoint(): Promise<void> {
    const { harness, client } = this;
    if (harness === undefined || client === undefined || !client.session.isActive || harness.credentials.asked('token').length > 0) return;
    harness.publish(client, tokenTopic(1));
    harness.credentials.answer('token', tokenReply(200, ENDPOINT_ID, TOKEN_ID, null));
    await settle();
  }

  private checks(): Record<string, StateCheck> {
    const sawNothingOfTheEndpoint = () => {
      expect(this.live.harness.announcer.announcements).toEqual([]);
      expect(this.live.harness.forwarder.forwarded).toEqual([]);
    };
    const endpointAnnouncedGone = () => {
      const { harness } = this.live;
      expect(harness.announcer.of('connected')).toEqual([{ [ENDPOINT_ID]: APP_VERSION }]);
      expect(harness.announcer.of('disconnected'), 'ELCE disconnected lists the endpoint').toEqual([{ [ENDPOINT_ID]: APP_VERSION }]);
      expect(harness.registry.holderOf(ENDPOINT_ID)).toBeUndefined();
    };
    /** An ECAP answer arriving after the end changes nothing. */
    const lateAnswersIgnored = async () => {
      const { harness, client } = this.live;
      const connacks = [...client.connection.connacks];
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {}); // xstate: "sent to stopped actor"
      try {
        for (const kind of ['username-password', 'certificate'] as const) {
          while (harness.credentials.pending(kind).length > 0) harness.credentials.answer(kind, credentialReply(200, 'late', 'late'));
        }
        await settle();
      } finally {
        warn.mockRestore();
      }
      expect(client.connection.connacks, 'no CONNACK after the end').toEqual(connacks);
    };

    return {
      connecting: () => expect(this.harness, 'nothing has reached KPC before the CONNECT').toBeUndefined(),

      authenticating: (model) => {
        const { harness, client } = this.live;
        expect(client.connection.connacks, 'no CONNACK while authenticating').toEqual([]);
        expect(client.connection.closes).toEqual([]);
        // Each presented credential was sent to ECAP once; the ones the chart awaits are unanswered.
        expect(harness.credentials.asked('username-password').map((r) => r.asked)).toEqual([[this.connect!.username, PASSWORD]]);
        const certificates = this.connect!.certificate === 'trusted' ? [[CERTIFICATE.issuer, CERTIFICATE.serialNumber]] : [];
        expect(harness.credentials.asked('certificate').map((r) => r.asked)).toEqual(certificates);
        const waiting = (['certificate', 'username-password'] as const).filter((kind) => harness.credentials.pending(kind).length > 0);
        expect(waiting).toEqual([...(model.context.awaiting as string[])].sort());
        sawNothingOfTheEndpoint();
      },

      active: () => {
        const { harness, client } = this.live;
        expect(client.connection.connacks, 'exactly one CONNACK 0').toEqual([0]);
        expect(client.connection.closes).toEqual([]);
        expect(harness.registry.connectionCount).toBe(1);
        // The device's endpoint works: ClientData went out, ELCE connected was announced.
        expect(harness.forwarder.forwarded).toEqual([{ topic: tokenTopic(1), endpointId: ENDPOINT_ID, mqttClientId: MQTT_CLIENT_ID }]);
        expect(harness.announcer.of('connected')).toEqual([{ [ENDPOINT_ID]: APP_VERSION }]);
        expect(harness.announcer.of('disconnected')).toEqual([]);
        expect(harness.registry.holderOf(ENDPOINT_ID)?.owner).toBe(client.session);
      },

      rejected: async () => {
        const { harness, client } = this.live;
        expect(client.connection.connacks, 'exactly one refusing CONNACK').toEqual([expectedRefusal(this.run.lastEvent!)]);
        expect(client.connection.closes).toEqual([]);
        expect(harness.registry.connectionCount).toBe(0);
        if (this.run.lastEvent!.type === 'mqtt.connect') expect(harness.credentials.requests, 'refused without asking ECAP').toEqual([]);
        const last = this.run.lastEvent as Event<'ecap.replied'>;
        const providerFault = last.type === 'ecap.replied' && last.statusCode === 200;
        expect(harness.credentials.faults, "a 200 without a credentialId is logged as the provider's fault").toEqual(
          providerFault ? ["credential provider 'cm' answered 200 without a credentialId; refused with CONNACK 3"] : [],
        );
        sawNothingOfTheEndpoint();
        await lateAnswersIgnored();
      },

      revoked: () => {
        const { harness, client } = this.live;
        expect(client.connection.connacks).toEqual([0]);
        expect(client.connection.closes, 'KPC closed the connection').toEqual(['credential.revoked']);
        expect(harness.registry.connectionCount).toBe(0);
        endpointAnnouncedGone();
      },

      closed: async () => {
        const { harness, client } = this.live;
        expect(harness.registry.connectionCount).toBe(0);
        if (this.run.cameFrom === 'active') {
          expect(client.connection.connacks).toEqual([0]);
          // KPC closes the connection itself only when it decided the end (not when the client left).
          const closedBy: Record<string, string[]> = {
            'mqtt.disconnected': [], 'admin.disconnected': ['admin.disconnected'], 'service.stopping': ['service.stopping'],
          };
          expect(client.connection.closes).toEqual(closedBy[this.run.lastEvent!.type]);
          endpointAnnouncedGone();
        } else {
          expect(client.connection.connacks, 'the client left before any CONNACK').toEqual([]);
          expect(client.connection.closes).toEqual([]);
          sawNothingOfTheEndpoint();
          await lateAnswersIgnored();
        }
      },
    };
  }
}

/** The CONNACK code each refusal must carry (the README's CONNACK table). */
function expectedRefusal(event: EventObject): number {
  if (event.type === 'mqtt.connect') {
    const connect = event as Event<'mqtt.connect'>;
    if (!connect.serviceAvailable) return 3;
    if (connect.certificate === 'untrusted') return 4;
    if (!connect.authenticationSlotFree) return 3; // every event that reaches here presents credentials
    return 5;
  }
  if (event.type === 'ecap.replied' && [400, 401, 403, 404].includes((event as Event<'ecap.replied'>).statusCode)) return 4;
  return 3; // ECAP 5xx, no answer, failed request, shutting down
}

describe('client session chart, driven through the live actors', () => {
  for (const path of generatePaths(clientSessionModel).paths) {
    it(path.description, async () => {
      await path.test(new World().params());
    });
  }
});
