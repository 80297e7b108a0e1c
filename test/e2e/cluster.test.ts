// Several KPC replicas of one instance on a 3-node NATS cluster, as operators run them behind a
// TCP load balancer: pushes published to the instance-wide subject reach
// the one client holding the endpoint exactly once whichever replica the queue group picked;
// roaming works across replicas and back; a replica killed with SIGKILL is noticed by the others'
// heartbeat watch and its endpoints stop being forwarded to it; a replica shut down with SIGTERM
// hands its clients over cleanly to the others (the test plays the load balancer).
//
// Replica A is pinned to NATS node n0, B to n1, C to n2 (test/support/cluster-replicas.ts explains
// how), the provider runs on n0, the echo extension on n1, the ELCE observer on n2, and pushes are
// published round-robin from one connection on each node: every flow crosses routes.
//
// "Exactly once" and "not received" are checked after `settle()` (a barrier: every push published
// before it has been handled by the replica that got it, and by the replica it was forwarded to),
// never after a sleep.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listing } from '../support/elce-recorder.js';
import { waitUntil, within } from '../support/waiting.js';
import { ClusterReplicas, type Replica, sumOf } from '../support/cluster-replicas.js';
import { tokenTopic } from '../support/stack.js';
import { Qos1Load } from '../support/qos1-load.js';
import type { TestClient } from '../support/mqtt.js';

const HEARTBEAT_MS = 300;
const MISSED_HEARTBEATS = 5;
const GRACEFUL_SHUTDOWN_S = 5;

let backend: ClusterReplicas;
let a: Replica;
let b: Replica;
let c: Replica;

beforeAll(async () => {
  backend = await ClusterReplicas.start({
    providerNode: 0,
    echoNode: 1,
    observerNode: 2,
    replicaConfig: { kaa: { kpc: { cluster: { 'heartbeat-interval': `${HEARTBEAT_MS}ms`, 'missed-heartbeats': MISSED_HEARTBEATS } } } },
  });
  [a, b, c] = await Promise.all([0, 1, 2].map((node) => backend.startReplica({ node })));
}, 60_000);

afterAll(async () => {
  await backend?.stop();
});

const pushesTo = (client: TestClient, token: string) => client.messages.filter(ClusterReplicas.isPush(token));
/** How many times `client` received each marker (0 included). */
const timesReceived = (client: TestClient, token: string, markers: string[]) => {
  const payloads = pushesTo(client, token).map((m) => m.payload.toString());
  return Object.fromEntries(markers.map((marker) => [marker, payloads.filter((p) => p === marker).length]));
};
const once = (markers: string[]) => Object.fromEntries(markers.map((marker) => [marker, 1]));
const never = (markers: string[]) => Object.fromEntries(markers.map((marker) => [marker, 0]));

async function waitForAll(client: TestClient, token: string, markers: string[]): Promise<void> {
  await waitUntil(
    () => markers.every((marker) => pushesTo(client, token).some((m) => m.payload.toString() === marker)),
    `${client.name} receiving ${markers.length} pushes for ${token}`,
    { detail: () => `received: ${pushesTo(client, token).map((m) => m.payload.toString()).join(', ') || '(none)'}` },
  );
}

const markers = (prefix: string, count: number) => Array.from({ length: count }, () => backend.marker(prefix));
const snapshot = (replicas: Replica[]) => Promise.all(replicas.map((replica) => backend.extensionDataCounts(replica.kpc)));
const delta = (before: Record<string, number>[], after: Record<string, number>[], outcome: string) => sumOf(after, outcome) - sumOf(before, outcome);

describe('KPC replicas on a NATS cluster', () => {
  it('forms a 3-node NATS cluster with one replica connected to each node', async () => {
    for (const node of backend.cluster.nodes) {
      const routez = await backend.cluster.monitor<{ num_routes: number }>(node.index, '/routez');
      expect(routez.num_routes, `routes of NATS node n${node.index}`).toBe(2);
    }
    for (const replica of [a, b, c]) {
      const names = (await backend.cluster.connections(replica.node)).map((connection) => connection.name);
      expect(names, `connections of NATS node n${replica.node}`).toContain(`kpc ${replica.kpc.replicaId}`);
      expect((await fetch(`${replica.kpc.httpUrl}/health`)).status).toBe(200);
    }
    expect(new Set([a, b, c].map((replica) => replica.node)).size).toBe(3);
  });

  it('delivers every push on the instance subject exactly once, whichever replica the queue group picked', async () => {
    const { token, endpointId } = backend.newToken();
    const gateway = await backend.connect(a.kpc, 'push-gw');
    await backend.speakFor(a.kpc, gateway, token);
    await backend.settle(); // every replica's table says endpoint → A
    const before = await snapshot([a, b, c]);

    const sent = markers('push', 21);
    await backend.pushAll(endpointId, sent);
    await waitForAll(gateway, token, sent);
    await backend.settle();

    expect(timesReceived(gateway, token, sent)).toEqual(once(sent));
    const after = await snapshot([a, b, c]);
    expect(delta(before, after, 'endpoint-offline'), 'pushes dropped as endpoint offline').toBe(0);
    expect(delta([before[0]!], [after[0]!], 'forwarded'), 'pushes A (the holder) forwarded').toBe(0);
    // The pushes published on n1 and n2 went to B and C: the forwarding path really was exercised.
    expect(delta(before.slice(1), after.slice(1), 'forwarded'), 'pushes B and C forwarded to A').toBeGreaterThan(0);
  });

  it('roams an endpoint to another replica and back: pushes follow it, the roamed side announces nothing', async () => {
    const { token, endpointId } = backend.newToken();
    const own1 = backend.newToken(); // G1's second endpoint: its disconnected event is the witness of G1 leaving
    const own2 = backend.newToken(); // likewise for G2
    const g1 = await backend.connect(a.kpc, 'roam-g1');
    await backend.speakFor(a.kpc, g1, token);
    await backend.speakFor(a.kpc, g1, own1.token);
    await backend.settle(); // B knows the endpoint is on A before G2 claims it

    const g2 = await backend.connect(b.kpc, 'roam-g2');
    await backend.speakFor(b.kpc, g2, token);
    await backend.speakFor(b.kpc, g2, own2.token);
    const onA = await backend.waitForEndpoint(a.kpc, endpointId, (v) => !v.heldHere, `A's session for ${endpointId} roamed`);
    expect(onA.sessions.map((s) => [s.mqttClientId, s.state])).toEqual([[g1.name, 'roamed']]);
    expect((await backend.endpointView(b.kpc, endpointId)).heldHere).toBe(true);

    await backend.settle();
    const toG2 = markers('to-g2', 9);
    await backend.pushAll(endpointId, toG2);
    await waitForAll(g2, token, toG2);
    await backend.settle();
    expect(timesReceived(g2, token, toG2)).toEqual(once(toG2));
    expect(timesReceived(g1, token, toG2), 'pushes delivered to the roamed G1').toEqual(never(toG2));

    // G1 leaves: its own endpoint is announced disconnected, the roamed one is not.
    const sinceG1 = backend.elce.mark();
    await g1.end();
    const g1Left = await backend.elce.waitFor(listing('disconnected', own1.endpointId), `disconnected ${own1.endpointId} (G1 left)`, { since: sinceG1 });
    expect(Object.keys(g1Left.endpoints)).not.toContain(endpointId);
    await backend.elceBarrier(a);
    expect(backend.elce.find(listing('disconnected', endpointId), sinceG1), `${endpointId} announced disconnected when G1 left`).toEqual([]);

    // G1 comes back to A and speaks for the endpoint: active on A again, B's session roamed.
    const g1Again = await backend.connect(a.kpc, 'roam-g1');
    await backend.speakFor(a.kpc, g1Again, token);
    const onB = await backend.waitForEndpoint(b.kpc, endpointId, (v) => !v.heldHere, `B's session for ${endpointId} roamed`);
    expect(onB.sessions.map((s) => [s.mqttClientId, s.state])).toEqual([[g2.name, 'roamed']]);
    expect((await backend.endpointView(a.kpc, endpointId)).heldHere).toBe(true);

    await backend.settle();
    const toG1 = markers('to-g1', 9);
    await backend.pushAll(endpointId, toG1);
    await waitForAll(g1Again, token, toG1);
    await backend.settle();
    expect(timesReceived(g1Again, token, toG1)).toEqual(once(toG1));
    expect(timesReceived(g2, token, toG1), 'pushes delivered to the roamed G2').toEqual(never(toG1));

    // G2 leaves: nothing announced for the endpoint it no longer holds.
    const sinceG2 = backend.elce.mark();
    await g2.end();
    const g2Left = await backend.elce.waitFor(listing('disconnected', own2.endpointId), `disconnected ${own2.endpointId} (G2 left)`, { since: sinceG2 });
    expect(Object.keys(g2Left.endpoints)).not.toContain(endpointId);
    await backend.elceBarrier(b);
    expect(backend.elce.find(listing('disconnected', endpointId), sinceG2), `${endpointId} announced disconnected when G2 left`).toEqual([]);
  });

  it('a replica started after an endpoint connected learns where it is and forwards its pushes there', async () => {
    const { token, endpointId } = backend.newToken();
    const gateway = await backend.connect(a.kpc, 'late-gw');
    await backend.speakFor(a.kpc, gateway, token);
    await backend.settle();
    const late = await backend.startReplica({ node: 1 });
    try {
      // It asks every replica it hears for the endpoints it holds; A's answer names this one.
      const fromA = new RegExp(`"event":"cluster\\.learned".*"replica":"${a.kpc.replicaId}".*"endpoints":[1-9]`);
      await late.kpc.waitForLog(fromA, 10_000);
      const everyone = [a, b, c, late];
      const before = await snapshot(everyone);
      const sent = markers('late', 24);
      await backend.pushAll(endpointId, sent);
      await waitForAll(gateway, token, sent);
      await backend.settle();
      expect(timesReceived(gateway, token, sent)).toEqual(once(sent));
      const after = await snapshot(everyone);
      expect(delta(before, after, 'endpoint-offline'), 'pushes dropped as endpoint offline').toBe(0);
    } finally {
      await backend.stopReplica(late, 'SIGTERM');
    }
  });

  it('kill -9: the others declare the replica gone, drop its endpoints\' pushes as offline, and route them to where the gateway reconnects', async () => {
    const d = await backend.startReplica({ node: 1 });
    const { token, endpointId } = backend.newToken();
    const gateway = await backend.connect(d.kpc, 'kill-gw');
    await backend.speakFor(d.kpc, gateway, token);
    await backend.settle();
    // Before the kill, pushes landing on A, B or C are forwarded to D.
    const beforeKill = markers('before-kill', 6);
    await backend.pushAll(endpointId, beforeKill);
    await waitForAll(gateway, token, beforeKill);

    expect(await backend.stopReplica(d, 'SIGKILL')).toBeNull();
    const survivors = [a, b, c];
    const gone = new RegExp(`"event":"replica\\.gone".*"replica":"${d.kpc.replicaId}"`);
    await Promise.all(survivors.map((replica) => replica.kpc.waitForLog(gone, 10_000)));

    const before = await snapshot(survivors);
    const afterKill = markers('after-kill', 6);
    await backend.pushAll(endpointId, afterKill);
    await backend.drain(); // every survivor has routed (or dropped) what it received
    const after = await snapshot(survivors);
    expect(delta(before, after, 'forwarded'), 'pushes forwarded to the dead replica').toBe(0);
    expect(delta(before, after, 'endpoint-offline'), 'pushes dropped as endpoint offline').toBe(afterKill.length);

    // The load balancer sends the gateway to a live replica: pushes reach it there.
    const moved = await backend.connect(b.kpc, 'kill-gw');
    await backend.speakFor(b.kpc, moved, token);
    await backend.settle();
    const afterMove = markers('after-move', 6);
    await backend.pushAll(endpointId, afterMove);
    await waitForAll(moved, token, afterMove);
    await backend.settle();
    expect(timesReceived(moved, token, afterMove)).toEqual(once(afterMove));
  });

  it('SIGTERM under load: the replica exits 0 announcing its endpoints, the others keep serving and take over its clients', async () => {
    const f = await backend.startReplica({ node: 2, config: { service: { 'graceful-shutdown': GRACEFUL_SHUTDOWN_S } } });
    const users = ['drain-u1', 'drain-u2'];
    const tokens = users.map(() => backend.newToken());
    const onF = await Promise.all(users.map((user) => backend.connect(f.kpc, user)));
    for (const [i, client] of onF.entries()) await backend.speakFor(f.kpc, client, tokens[i]!.token);
    const steadyToken = backend.newToken();
    const steady = await backend.connect(a.kpc, 'steady');
    await backend.speakFor(a.kpc, steady, steadyToken.token);

    const loadF = new Qos1Load(onF.map((client, i) => ({ client, topic: tokenTopic(tokens[i]!.token) })), 2);
    const loadA = new Qos1Load([{ client: steady, topic: tokenTopic(steadyToken.token) }], 2);
    loadF.start();
    loadA.start();
    await waitUntil(() => loadF.everyStreamAcked(20) && loadA.everyStreamAcked(20), 'QoS 1 traffic flowing on F and on A');

    const since = backend.elce.mark();
    const exitCode = await within(backend.stopReplica(f, 'SIGTERM'), GRACEFUL_SHUTDOWN_S * 1_000 + 5_000, 'F exiting after SIGTERM');
    expect(exitCode).toBe(0);
    await Promise.all(onF.map((client) => client.waitForClose()));
    const announced = () =>
      new Set(backend.elce.find((e) => e.type === 'disconnected' && e.originatorReplicaId === f.kpc.replicaId, since).flatMap((e) => Object.keys(e.endpoints)));
    await waitUntil(() => tokens.every(({ endpointId }) => announced().has(endpointId)), `F announcing its endpoints disconnected`, {
      detail: () => backend.elce.describe(since),
    });
    await loadF.stop(); // its streams end with "connection closed"

    // Every message F acknowledged reached the extension.
    const received = () => new Set(backend.echo.received.map((data) => data.payload.toString()));
    const missing = () => [...loadF.acked].filter((payload) => !received().has(payload));
    await waitUntil(() => missing().length === 0, 'every payload F PUBACKed reaching the extension', {
      detail: () => `missing: ${missing().slice(0, 10).join(', ')}`,
    });

    // A kept serving through F's shutdown.
    const ackedOnA = loadA.acked.size;
    await waitUntil(() => loadA.acked.size >= ackedOnA + 20, 'A acknowledging more QoS 1 messages after F exited');
    await loadA.stop();
    expect(loadA.errors.map((error) => error.message)).toEqual([]);

    // The load balancer sends F's clients to B: their endpoints are routed there.
    const onB = await Promise.all(users.map((user) => backend.connect(b.kpc, user)));
    for (const [i, client] of onB.entries()) await backend.speakFor(b.kpc, client, tokens[i]!.token);
    await backend.settle();
    const sent = tokens.map(() => markers('after-handover', 3));
    for (const [i, { endpointId }] of tokens.entries()) await backend.pushAll(endpointId, sent[i]!);
    for (const [i, client] of onB.entries()) await waitForAll(client, tokens[i]!.token, sent[i]!);
    await backend.settle();
    for (const [i, client] of onB.entries()) expect(timesReceived(client, tokens[i]!.token, sent[i]!)).toEqual(once(sent[i]!));
  });
});
