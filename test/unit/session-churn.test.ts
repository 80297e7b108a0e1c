// Memory must not grow with the number of sessions ever served, only with the sessions alive.
// Thousands of client sessions, each identifying an endpoint token, go through the live Registry
// and end; between rounds the heap is measured after a full garbage collection. A structure that
// keeps something per session after the session ended (in 0.1.0: xstate's transition cache of the
// registry chart, one entry per unique `xstate.done.actor.<id>` event type, ~0.7 KB per session)
// shows as steady growth from round to round; bounded caches fill in the first round.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { ClientDataOutbox, MqttConnection } from '../../src/actors/ports.js';
import { Registry } from '../../src/actors/registry/registry.js';
import { AuthenticationGate } from '../../src/actors/session/authentication-gate.js';
import type { SessionHub } from '../../src/actors/session/client-session.js';
import { ClientDataForwarder } from '../../src/actors/traffic/client-data-forwarder.js';
import { RequestMemory } from '../../src/actors/traffic/request-memory.js';
import { RoutingTable } from '../../src/actors/traffic/routing.js';
import { TrafficMeter } from '../../src/actors/traffic/traffic-meter.js';
import { idleRegistryHooks, quietHubParts } from '../support/registry-doubles.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const SESSIONS_PER_ROUND = 2_000;
const ROUNDS = 4;
/** A budget, not a measurement: ~4 s alone, much longer next to e2e tests on a shared machine. */
const TEST_BUDGET_MS = 180_000;

class SilentConnection implements MqttConnection {
  readonly remoteAddress = '127.0.0.1';
  accept(): void {}
  refuse(): void {}
  deliver(): void {}
  close(): void {}
}

const accepted = (credentialId: string) => ({
  ok: true as const,
  reply: { statusCode: 200, clientId: null, credentialId, reasonPhrase: null, tenantId: null },
});

/** The outbox confirms every ClientData at once; nobody ever answers a request. */
const confirmingOutbox: ClientDataOutbox = {
  send: (_destination, _message, confirmed) => (confirmed(), true),
  sendAtMostOnce: (_destination, _message, handedOver) => handedOver(),
};

function startRegistry(forwarder: SessionHub['forwarder'] = { forward: (_session: unknown, message: { ack: () => void }) => message.ack() } as never) {
  const hub: Omit<SessionHub, 'directory'> = {
    settings: { anonymousAllowed: false, authenticationTimeoutMs: 10_000, negativeCacheMs: 1_000, maxHeldMessages: 10, httpSessionIdleTimeoutMs: 60_000 },
    replicaId: 'r1',
    routing: () => new RoutingTable({ applications: { app: { versions: { v1: { allowedExtensionInstances: ['dcx'] } } } }, extensionInstances: { dcx: { endpointAware: true } } }, (i) => i),
    clientAuthentication: {
      provider: 'cm',
      validateUsernamePassword: async (username) => accepted(`cred-${username}`),
      validateCertificate: async () => ({ ok: false, reason: 'nats-unavailable' }),
    },
    tokens: {
      validateToken: async (_app, token) => ({
        ok: true,
        reply: { statusCode: 200, endpointId: `endpoint-${token}`, tokenId: `tokid-${token}`, reasonPhrase: null },
      }),
    },
    traffic: new TrafficMeter(false, () => 'default'),
    authentication: new AuthenticationGate(SESSIONS_PER_ROUND, 1_000),
    forwarder,
    ...quietHubParts(),
  };
  const registry = new Registry(hub, {
    replicaId: 'r1', gracefulShutdownMs: 1_000, maxConnections: SESSIONS_PER_ROUND * 2, natsConnected: () => true,
    logger: pino({ level: 'silent' }), onActorFailed: () => {}, retainEnded: { count: 10, forMs: 60_000 },
  }, idleRegistryHooks());
  registry.start();
  registry.actor.send({ type: 'nats.connected' });
  return registry;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

async function churn(registry: Registry, round: number): Promise<void> {
  const sessions = [];
  for (let i = 0; i < SESSIONS_PER_ROUND; i++) {
    const id = `r${round}-${i}`;
    sessions.push(registry.openSession(new SilentConnection(), { mqttClientId: id, transport: 'tcp', username: id, password: Buffer.from('pw'), certificate: null }));
  }
  await settle();
  sessions.forEach((session, i) => session.publish({ topic: `kp1/v1/dcx/token-${round}-${i}/data/1`, payload: Buffer.from('x'), qos: 1 }, () => {}));
  await settle();
  for (const session of sessions) session.disconnected('bye');
  await settle();
  expect(registry.connectionCount).toBe(0);
}

function heapAfterGc(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/** Heap retained per session from round 2 to the last (round 1 warms up code and bounded caches). */
async function retainedPerSession(registry: Registry): Promise<{ perSession: number; heaps: string }> {
  const heaps: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    await churn(registry, round);
    heaps.push(heapAfterGc());
  }
  return {
    perSession: (heaps.at(-1)! - heaps[1]!) / ((ROUNDS - 2) * SESSIONS_PER_ROUND),
    heaps: `heap after GC per round: ${heaps.map((h) => (h / 1e6).toFixed(2)).join(', ')} MB`,
  };
}

describe('session churn', () => {
  it('ended sessions leave nothing behind: the heap after GC stays flat from round 2 on', async () => {
    // 0.1.0 retained ~0.7 KB per session here (xstate's transition cache of the registry chart).
    const { perSession, heaps } = await retainedPerSession(startRegistry());
    expect(perSession, heaps).toBeLessThan(150);
  }, TEST_BUDGET_MS);

  it('a request nobody answers keeps its remembered topic, not the ended session that sent it', async () => {
    const requests = new RequestMemory<string>(1_000_000, 3_600_000);
    try {
      const forwarder = new ClientDataForwarder<string>(confirmingOutbox, requests, { extensionTimeoutMs: 0 }, { forwarded: () => {}, overflow: () => {} });
      const { perSession, heaps } = await retainedPerSession(startRegistry(forwarder));
      expect(requests.size).toBe(ROUNDS * SESSIONS_PER_ROUND);
      // A remembered request (correlation id, topic, QoS, time) is a few hundred bytes; an ended
      // client session with its endpoint session, actors and journals is several KB.
      expect(perSession, heaps).toBeLessThan(1_000);
    } finally {
      requests.stop();
    }
  }, TEST_BUDGET_MS);
});
