// One node of a 3-node NATS cluster dies (SIGKILL) under QoS 1 load: the KPC replica connected to
// it reconnects to another node through its NATS_URLS list, reports itself down on /health while it
// has no NATS and up again after, and loses no PUBACKed message.
//
// Replica R lists all three nodes (through its own TCP gates, see test/support/cluster-replicas.ts)
// and is pinned to node n0; the provider, the echo extension and the test's connections are on n1,
// which survives, so nothing outside KPC loses messages (core NATS has no persistence). The gates
// to n1 and n2 stay closed until the test opens them: that makes the "no NATS" window observable,
// and the nodes advertise no cluster URLs, so R can only come back through its own list. As in
// nats-outage.test.ts, n0's link is first turned into a black hole and a QoS 1 ClientData is seen
// going into it, so the outage really swallows bytes KPC had already written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoAcknowledgedLoss } from '../support/no-acknowledged-loss.js';
import { waitUntil } from '../support/waiting.js';
import { ClusterReplicas, type Replica } from '../support/cluster-replicas.js';
import { passwordOf, tokenTopic } from '../support/stack.js';
import { getHealth, waitForHealth } from '../support/kpc-probes.js';
import { connackCode, type TestClient } from '../support/mqtt.js';
import { Qos1Load } from '../support/qos1-load.js';

const PUBLISHERS = ['user-1', 'user-2', 'user-3', 'user-4'];
const IN_FLIGHT_PER_CLIENT = 3;
const ACKS_PER_PHASE = 40;
const KILLED = 0;

let backend: ClusterReplicas;
let r: Replica;

beforeAll(async () => {
  backend = await ClusterReplicas.start({ providerNode: 1, echoNode: 1, observerNode: 1, pusherNodes: [1] });
  r = await backend.startReplica({ node: KILLED, keepOtherGatesClosed: true });
}, 60_000);

afterAll(async () => {
  await backend?.stop();
});

const received = (): Set<string> => new Set(backend.echo.received.map((data) => data.payload.toString()));

describe('a NATS cluster node lost under QoS 1 load', () => {
  it('the replica reconnects through its NATS_URLS list, is unhealthy meanwhile, and loses no PUBACKed message', async () => {
    const connectionName = `kpc ${r.kpc.replicaId}`;
    const onKilledNode = (await backend.cluster.connections(KILLED)).find((connection) => connection.name === connectionName);
    expect(onKilledNode, `R's connection on n${KILLED}`).toBeDefined();
    const subscriptions = onKilledNode!.subscriptions;

    const tokens = PUBLISHERS.map(() => backend.newToken());
    const clients: TestClient[] = await Promise.all(PUBLISHERS.map((user) => backend.connect(r.kpc, user)));
    for (const [i, client] of clients.entries()) await backend.speakFor(r.kpc, client, tokens[i]!.token);
    const witnessToken = backend.newToken();
    const witness = await backend.connect(r.kpc, 'witness');
    await backend.speakFor(r.kpc, witness, witnessToken.token);

    const load = new Qos1Load(clients.map((client, i) => ({ client, topic: tokenTopic(tokens[i]!.token) })), IN_FLIGHT_PER_CLIENT);
    load.phase = 'before';
    load.start();
    await waitUntil(() => load.everyStreamAcked(ACKS_PER_PHASE), `every client having ${ACKS_PER_PHASE} PUBACKs before the node is lost`);

    // --- n0 dies, with a QoS 1 ClientData in flight on R's link to it ---
    const gate = r.gates[KILLED]!;
    gate.close();
    gate.blackHole();
    load.phase = 'outage';
    const inFlight = 'in-flight-at-the-node-loss';
    const inFlightAcked = witness.publishQos1(tokenTopic(witnessToken.token), inFlight);
    inFlightAcked.catch(() => {}); // awaited below
    await waitUntil(() => gate.discardedFromClient.includes(inFlight), 'R writing a QoS 1 ClientData into the dead link');
    await backend.cluster.kill(KILLED);

    const down = await waitForHealth(r.kpc, 500);
    expect(down.body).toContain('NATS');
    expect(await connackCode(r.kpc.mqttUrl, { username: 'late', password: passwordOf('late') })).toBe(3);
    const unacknowledgedDuringOutage = load.outstanding();
    expect(unacknowledgedDuringOutage.length, 'publishes left waiting for PUBACK while R has no NATS').toBeGreaterThan(0);
    expect((await getHealth(r.kpc)).status, 'R still without NATS while the other nodes are out of its reach').toBe(500);

    // --- the other nodes become reachable: R reconnects to one of them through its list ---
    load.phase = 'after';
    for (const [node, nodeGate] of r.gates.entries()) if (node !== KILLED) nodeGate.open();
    await waitForHealth(r.kpc, 200);
    const reconnected = JSON.parse(await r.kpc.waitForLog('"event":"nats.reconnected"')) as { server?: string };
    const survivors = r.gates.filter((_, node) => node !== KILLED).map((nodeGate) => `127.0.0.1:${nodeGate.port}`);
    expect(survivors).toContain(reconnected.server);

    // Its subscriptions are back on the new node, and known on every surviving node.
    const newNode = await waitUntil(
      async () => {
        for (const node of backend.cluster.nodes.filter((n) => n.alive)) {
          const found = (await backend.cluster.connections(node.index)).find((connection) => connection.name === connectionName);
          if (found !== undefined && found.subscriptions >= subscriptions) return node;
        }
        return undefined;
      },
      `R's ${subscriptions} subscriptions registered on a surviving node`,
    );
    expect(newNode.index).not.toBe(KILLED);
    await backend.cluster.interestBarrier();

    await expectNoAcknowledgedLoss({
      load, clients, witness, inFlight, inFlightAcked, unacknowledgedDuringOutage, received, acksPerClientAfterFault: ACKS_PER_PHASE,
    });

    // R serves new clients again: authenticated through the provider, requests answered, pushes delivered.
    const late = await backend.connect(r.kpc, 'late');
    const lateToken = backend.newToken();
    await backend.speakFor(r.kpc, late, lateToken.token);
    await backend.pushAll(lateToken.endpointId, ['push-after-the-node-loss']);
    await late.waitForMessage(ClusterReplicas.isPush(lateToken.token, 'push-after-the-node-loss'), 'a push after the node loss');
  });
});
