// Multi-replica tests: over a cluster stack (stack.ts with `cluster`: a 3-node NATS cluster, the
// stand-ins and the ELCE observer each on a chosen node), one "pusher" NATS connection per chosen
// node publishing ExtensionData, and several BUILT KPC replicas of one KPC instance (`kpc`), as an
// operator runs them behind a TCP load balancer.
//
// PINNING. nats.js shuffles the NATS_URLS list, so the order alone does not decide which node a
// replica connects to. Each replica therefore reaches the nodes through its own TCP gates (one per
// node, test/support/tcp-gate.ts): its NATS_URLS lists all three (its own node first), and only its
// node's gate is open while it starts, so it connects there. The other gates are opened afterwards
// (or kept closed, to decide when it may reconnect elsewhere). The nodes advertise no cluster URLs,
// so reconnecting goes through that list.
//
// BARRIERS ("X did not get a message", "every replica knows E is on A") without sleeps:
// - drain(): from every pusher, a push to each live replica's OWN subject for that replica's beacon
//   endpoint. A pusher's messages reach a replica in publish order (one connection, one route), so
//   once the beacon has them, the replica has handled everything that pusher sent it before.
// - syncFrom(S, targets): each target's beacon speaks for a fresh token, then S's beacon speaks for
//   it: the target's session for it becomes roamed only by handling S's `connected` event, and S
//   publishes events and forwarded pushes on one connection in order, so every event S announced
//   and every push S forwarded before has been handled by the target.
// - settle() = drain() then syncFrom(each live replica → the others).
import type { NatsConnection } from 'nats';
import type { IClientOptions } from 'mqtt';
import { connectToNats } from '../../dev/nats-connection.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import { deepMerge, type KpcHandle } from './kpc-process.js';
import type { TestClient } from './mqtt.js';
import type { NatsCluster } from './nats-cluster.js';
import { passwordOf, pushData, startStack, tokenTopic, type Stack } from './stack.js';
import { startTcpGate, type TcpGate } from './tcp-gate.js';
import { waitUntil } from './waiting.js';

export const KPC_INSTANCE = 'kpc';
export const ADMIN_TOKEN = 'cluster-test-admin-token';

export interface Replica {
  kpc: KpcHandle;
  /** The NATS node it was pinned to at start. */
  node: number;
  /** gates[j] relays to NATS node j; NATS_URLS lists them all. */
  gates: TcpGate[];
  /** A client on this replica that only serves as a barrier witness; its own endpoint is `beaconEndpoint`. */
  beacon: TestClient;
  beaconEndpoint: string;
  alive: boolean;
}

export interface EndpointView {
  endpointId: string;
  heldHere: boolean;
  replicaId: string | null;
  sessions: Array<{ mqttClientId: string; state: string }>;
}

export type ExtensionDataCounts = Record<string, number>;

export interface ClusterReplicasOptions {
  /** Node of the dev ECAP provider, of the echo extension, of the ELCE observer. */
  providerNode: number;
  echoNode: number;
  observerNode: number;
  /** Nodes with a pusher connection (default: every node). */
  pusherNodes?: number[];
  /** Deep-merged over every replica's test config (after the admin token). */
  replicaConfig?: Record<string, unknown>;
}

export interface StartReplicaOptions {
  node: number;
  /** Deep-merged over the backend's replica config. */
  config?: Record<string, unknown>;
  /** Keep the gates to the other nodes closed after start (default false: all open). */
  keepOtherGatesClosed?: boolean;
}

export class ClusterReplicas {
  readonly replicas: Replica[] = [];
  private markerCounter = 0;

  private constructor(
    readonly stack: Stack,
    readonly cluster: NatsCluster,
    readonly pushers: NatsConnection[],
    private readonly opts: ClusterReplicasOptions,
  ) {}

  static async start(opts: ClusterReplicasOptions): Promise<ClusterReplicas> {
    const { providerNode, echoNode, observerNode } = opts;
    const stack = await startStack({ noKpc: true, cluster: { providerNode, echoNode, observerNode } });
    const cluster = stack.cluster!;
    const pushers: NatsConnection[] = [];
    try {
      for (const node of opts.pusherNodes ?? cluster.nodes.map((n) => n.index)) {
        pushers.push(await connectToNats(cluster.urls([node]), `cluster-test-pusher-n${node}`));
      }
      await cluster.interestBarrier();
      return new ClusterReplicas(stack, cluster, pushers, opts);
    } catch (error) {
      await Promise.all(pushers.map((nc) => nc.close())).catch(() => {});
      await stack.stop();
      throw error;
    }
  }

  get elce() {
    return this.stack.elce;
  }

  get echo() {
    return this.stack.echo;
  }

  liveReplicas(): Replica[] {
    return this.replicas.filter((replica) => replica.alive);
  }

  newToken(): { token: string; endpointId: string } {
    return this.stack.newToken();
  }

  /** A KPC replica pinned to NATS node `node` (see the header), healthy, with its beacon speaking. */
  async startReplica(opts: StartReplicaOptions): Promise<Replica> {
    const { nodes } = this.cluster;
    const gates = await Promise.all(nodes.map((node) => startTcpGate({ port: node.port })));
    gates.forEach((gate, j) => (j === opts.node ? gate.open() : gate.close()));
    const order = [opts.node, ...nodes.map((n) => n.index).filter((j) => j !== opts.node)];
    const config = deepMerge(deepMerge({ server: { 'admin-token': ADMIN_TOKEN } }, this.opts.replicaConfig ?? {}), opts.config ?? {});
    let kpc: KpcHandle;
    try {
      kpc = await this.stack.startKpc({ natsUrls: order.map((j) => gates[j]!.url), config });
    } catch (error) {
      await Promise.all(gates.map((gate) => gate.stop()));
      throw error;
    }
    const replica: Replica = { kpc, node: opts.node, gates, beacon: undefined as unknown as TestClient, beaconEndpoint: '', alive: true };
    this.replicas.push(replica);

    const connected = JSON.parse(await kpc.waitForLog('"event":"nats.connected"')) as { server?: string };
    const expected = `127.0.0.1:${gates[opts.node]!.port}`;
    if (connected.server !== expected) throw new Error(`replica ${kpc.replicaId} connected to ${connected.server}, not to node n${opts.node} (${expected})`);
    if (!opts.keepOtherGatesClosed) gates.forEach((gate) => gate.open());
    // Its subscriptions were registered on its node before it reported healthy: make them known cluster-wide.
    await this.cluster.interestBarrier();

    const beaconToken = this.newToken();
    replica.beacon = await this.connect(kpc, `beacon-${this.replicas.length}`);
    replica.beaconEndpoint = beaconToken.endpointId;
    await this.speakFor(kpc, replica.beacon, beaconToken.token);
    return replica;
  }

  /**
   * Ends a replica with `signal` and resolves with its exit code (null when killed by a signal) once
   * every live NATS node has dropped its connection and every node knows its subscriptions are gone
   * (so no node still routes a queue-group message towards it).
   */
  async stopReplica(replica: Replica, signal: NodeJS.Signals): Promise<number | null> {
    replica.alive = false;
    const exitCode = await replica.kpc.stop(signal);
    const name = `kpc ${replica.kpc.replicaId}`;
    await waitUntil(
      async () => {
        const lists = await Promise.all(this.cluster.nodes.filter((n) => n.alive).map((n) => this.cluster.connections(n.index)));
        return lists.every((connections) => connections.every((connection) => connection.name !== name));
      },
      `NATS dropping the connection of ${replica.kpc.replicaId}`,
    );
    await this.cluster.interestBarrier();
    return exitCode;
  }

  /** Connects user `user` (password `pw-{user}`, registered if new) with a short unique MQTT client id. */
  async connect(kpc: KpcHandle, user: string, opts: IClientOptions = {}): Promise<TestClient> {
    this.stack.credentials.users[user] ??= { password: passwordOf(user) };
    return this.stack.connect(kpc, user, opts);
  }

  /** The client speaks for `token` (a request on it is answered) and `kpc` announces the endpoint `connected`. */
  speakFor(kpc: KpcHandle, client: TestClient, token: string): Promise<void> {
    return this.stack.speakFor(kpc, client, token);
  }

  /** A fresh marker for a push payload. */
  marker(prefix: string): string {
    return `${prefix}-${++this.markerCounter}`;
  }

  /** The push as KPC delivers it to the client speaking for `token`. */
  static isPush(token: string, marker?: string) {
    return (m: { topic: string; payload: Buffer }) => m.topic === `${tokenTopic(token, 'command')}/status` && (marker === undefined || m.payload.toString() === marker);
  }

  /**
   * Publishes one push (status 200, resource path `/command`) per marker to the KPC INSTANCE
   * subject (queue group: any replica may get it), spread round-robin over the pushers.
   */
  async pushAll(endpointId: string, markers: string[]): Promise<void> {
    markers.forEach((marker, i) => this.pushers[i % this.pushers.length]!.publish(subjects.instanceExtensionData(KPC_INSTANCE), pushData(endpointId, marker)));
    await Promise.all(this.pushers.map((pusher) => pusher.flush()));
  }

  /** See the header. */
  async drain(): Promise<void> {
    const expected: Array<{ replica: Replica; marker: string }> = [];
    for (const pusher of this.pushers) {
      for (const replica of this.liveReplicas()) {
        const marker = this.marker(`drain-${replica.kpc.replicaId}`);
        pusher.publish(subjects.replicaExtensionData(replica.kpc.replicaId), pushData(replica.beaconEndpoint, marker));
        expected.push({ replica, marker });
      }
    }
    await Promise.all(this.pushers.map((pusher) => pusher.flush()));
    await Promise.all(
      expected.map(({ replica, marker }) => replica.beacon.waitForMessage((m) => m.payload.toString() === marker, `drain marker ${marker}`)),
    );
  }

  /** See the header. */
  async syncFrom(source: Replica, targets: Replica[]): Promise<void> {
    const tokens = await Promise.all(
      targets.map(async (target) => {
        const token = this.newToken();
        await this.speakFor(target.kpc, target.beacon, token.token);
        return token;
      }),
    );
    await Promise.all(tokens.map(({ token }) => this.speakFor(source.kpc, source.beacon, token)));
    await Promise.all(
      targets.map((target, i) =>
        this.waitForEndpoint(
          target.kpc,
          tokens[i]!.endpointId,
          (view) => !view.heldHere && view.sessions.some((s) => s.state === 'roamed'),
          `${target.kpc.replicaId} handling ${source.kpc.replicaId}'s connected event for ${tokens[i]!.endpointId}`,
        ),
      ),
    );
  }

  /** See the header. */
  async settle(): Promise<void> {
    await this.drain();
    const live = this.liveReplicas();
    await Promise.all(live.map((source) => this.syncFrom(source, live.filter((r) => r !== source))));
  }

  /** Once this returns, every ELCE event `replica` published before the call has been recorded. */
  async elceBarrier(replica: Replica): Promise<void> {
    await this.speakFor(replica.kpc, replica.beacon, this.newToken().token);
  }

  async endpointView(kpc: KpcHandle, endpointId: string): Promise<EndpointView> {
    const response = await fetch(`${kpc.httpUrl}/endpoints/${encodeURIComponent(endpointId)}`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      signal: AbortSignal.timeout(2_000),
    });
    if (response.status !== 200) throw new Error(`GET /endpoints/${endpointId} on ${kpc.replicaId}: HTTP ${response.status}`);
    return (await response.json()) as EndpointView;
  }

  /** Polls the replica's view of an endpoint until `accept` (bounded). */
  async waitForEndpoint(kpc: KpcHandle, endpointId: string, accept: (view: EndpointView) => boolean, what: string, timeoutMs = 10_000): Promise<EndpointView> {
    let last: EndpointView | undefined;
    return waitUntil(
      async () => {
        last = await this.endpointView(kpc, endpointId);
        return accept(last) ? last : undefined;
      },
      what,
      { timeoutMs, detail: () => `last view: ${JSON.stringify(last)}` },
    );
  }

  /** `kpc_extension_data_total` by outcome, read from the replica's /metrics. */
  async extensionDataCounts(kpc: KpcHandle): Promise<ExtensionDataCounts> {
    const text = await (await fetch(`${kpc.httpUrl}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
    const counts: ExtensionDataCounts = {};
    for (const match of text.matchAll(/^kpc_extension_data_total\{outcome="([^"]+)"\} (\S+)$/gm)) counts[match[1]!] = Number(match[2]);
    return counts;
  }

  async stop(): Promise<void> {
    await Promise.all(this.replicas.map((replica) => replica.kpc.stop('SIGKILL')));
    await Promise.all(this.replicas.flatMap((replica) => replica.gates.map((gate) => gate.stop())));
    await Promise.all(this.pushers.map((nc) => nc.close()));
    await this.stack.stop();
  }
}

/** Sums the counters of an outcome over several replicas' snapshots. */
export function sumOf(snapshots: ExtensionDataCounts[], outcome: string): number {
  return snapshots.reduce((sum, counts) => sum + (counts[outcome] ?? 0), 0);
}
