// A session actor that throws must never take the registry or the process down: the registry
// discards it (closing its connection) and every other session goes on. Doubles stand only at
// the ports (MQTT connection, credential provider, forwarder, ELCE announcer).
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AuthenticationGate } from '../../src/actors/session/authentication-gate.js';
import { TrafficMeter } from '../../src/actors/traffic/traffic-meter.js';
import type { ConnectRequest, MqttConnection, MqttSession } from '../../src/actors/ports.js';
import { Registry } from '../../src/actors/registry/registry.js';
import type { SessionHub } from '../../src/actors/session/client-session.js';
import { RoutingTable } from '../../src/actors/traffic/routing.js';
import { idleRegistryHooks, quietHubParts } from '../support/registry-doubles.js';

class RecordingConnection implements MqttConnection {
  readonly remoteAddress = '127.0.0.1';
  readonly seen: string[] = [];
  constructor(private readonly throwOnAccept = false) {}
  accept(): void {
    if (this.throwOnAccept) throw new Error('boom: a bug in a session action');
    this.seen.push('connack 0');
  }
  refuse(returnCode: number): void { this.seen.push(`connack ${returnCode}`); }
  deliver(topic: string): void { this.seen.push(`deliver ${topic}`); }
  close(reason: string): void { this.seen.push(`close: ${reason}`); }
}

/** `endpointForward`: what the forwarder does with a message for an identified endpoint (default: forwards it). */
function startRegistry(endpointForward: () => void = () => {}) {
  const forwarded: string[] = [];
  const failures: number[] = [];
  const hub: Omit<SessionHub, 'directory'> = {
    settings: { anonymousAllowed: false, authenticationTimeoutMs: 1000, negativeCacheMs: 1000, maxHeldMessages: 10, httpSessionIdleTimeoutMs: 60_000 },
    replicaId: 'r1',
    routing: () =>
      new RoutingTable({ applications: { app: { versions: { v1: { allowedExtensionInstances: ['x', 'dcx'] } } } }, extensionInstances: { dcx: { endpointAware: true } } }, (i) => i),
    clientAuthentication: {
      provider: 'cm',
      validateUsernamePassword: async () => ({ ok: true, reply: { statusCode: 200, clientId: 'c', credentialId: 'cred', reasonPhrase: null, tenantId: null } }),
      validateCertificate: async () => ({ ok: false, reason: 'nats-unavailable' }),
    },
    traffic: new TrafficMeter(false, () => 'default'),
    tokens: { validateToken: async () => ({ ok: true, reply: { statusCode: 200, endpointId: 'ep-1', tokenId: 'tok-1', reasonPhrase: null } }) },
    authentication: new AuthenticationGate(10, 1000),
    forwarder: {
      forward: (_session: unknown, message: { packet: { topic: string }; ack: () => void }, endpointId: string | null) => {
        if (endpointId !== null) endpointForward();
        forwarded.push(message.packet.topic);
        message.ack();
        return true;
      },
    } as never,
    ...quietHubParts(),
  };
  const registry = new Registry(hub, {
    replicaId: 'r1', gracefulShutdownMs: 1000, maxConnections: 10, natsConnected: () => true,
    logger: pino({ level: 'silent' }), onActorFailed: () => failures.push(1), retainEnded: { count: 10, forMs: 60_000 },
  }, idleRegistryHooks());
  registry.start();
  registry.actor.send({ type: 'nats.connected' });
  return { registry, forwarded, failures };
}

const request = (id: string): ConnectRequest => ({ mqttClientId: id, transport: 'tcp', username: 'u', password: Buffer.from('p'), certificate: null });
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('supervision', () => {
  it('discards a session whose action throws and keeps the registry and other sessions running', async () => {
    const { registry, forwarded, failures } = startRegistry();
    const good = new RecordingConnection();
    const bad = new RecordingConnection(true);
    const goodSession: MqttSession = registry.openSession(good, request('good'));
    registry.openSession(bad, request('bad'));
    await settle();

    expect(failures).toHaveLength(1);
    expect(bad.seen).toEqual(['close: session failed']);
    expect(registry.state).toBe('running');
    expect(registry.actor.getSnapshot().status).toBe('active');
    expect(registry.connectionCount).toBe(1);

    // The surviving session still works end to end through the registry.
    expect(good.seen).toEqual(['connack 0']);
    let acked = false;
    goodSession.publish({ topic: 'kp1/v1/x/data', payload: Buffer.from('1'), qos: 1 }, () => { acked = true; });
    expect(forwarded).toEqual(['kp1/v1/x/data']);
    expect(acked).toBe(true);

    // And new sessions are still accepted after the failure.
    const later = new RecordingConnection();
    registry.openSession(later, request('later'));
    await settle();
    expect(later.seen).toEqual(['connack 0']);
  });

  it('discards an endpoint session whose action throws; its client stays connected and the token is identified afresh', async () => {
    let forwardThrows = true;
    const { registry, forwarded, failures } = startRegistry(() => {
      if (forwardThrows) throw new Error('boom: a bug in an endpoint session action');
    });
    const connection = new RecordingConnection();
    const session = registry.openSession(connection, request('device')) as MqttSession & { endpointSessions: unknown[] };
    await settle();
    const publish = () => session.publish({ topic: 'kp1/v1/dcx/TOKEN/json', payload: Buffer.from('1'), qos: 1 }, () => {});

    publish(); // held until ECAP answers; forwarding it then throws
    await settle();
    expect(failures).toHaveLength(1);
    expect(session.endpointSessions, 'the failed endpoint session is forgotten').toHaveLength(0);
    expect(connection.seen).toEqual(['connack 0']);
    expect(registry.heldEndpoints(), 'nobody holds the endpoint any more').toEqual({});

    forwardThrows = false;
    publish();
    await settle();
    expect(forwarded).toEqual(['kp1/v1/dcx/TOKEN/json']);
    expect(registry.heldEndpoints()).toEqual({ 'ep-1': 'v1' });
    expect(registry.state).toBe('running');
  });
});
