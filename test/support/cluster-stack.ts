// Setup for the multi-replica tests: a 3-node NATS cluster (test/support/nats-cluster.ts), the dev
// ECAP provider and the `echo` extension, the test's own NATS connections (an observer recording
// 9/ELCE events, and one "pusher" per chosen node publishing ExtensionData), and several BUILT KPC
// replicas of one KPC instance (`kpc`), as an operator runs them behind a TCP load balancer.
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
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import type { IClientOptions } from 'mqtt';
import { DevEcapProvider, type DevCredentials } from '../../dev/ecap-provider.js';
import { EchoExtension } from '../../dev/echo-extension.js';
import { connectToNats } from '../../dev/nats-connection.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import { ElceRecorder, listing } from './elce-recorder.js';
import { startKpc, type KpcHandle } from './kpc-process.js';
import { APP_VERSION, ECHO, passwordOf, pushData, tokenTopic } from './lifecycle-stack.js';
import { startNatsCluster, type NatsCluster } from './nats-cluster.js';
import { startTcpGate, type TcpGate } from './tcp-gate.js';
import { TestClient } from './test-client.js';
import { waitUntil } from './waiting.js';

export { APP_VERSION, ECHO, passwordOf, tokenTopic };

export const KPC_INSTANCE = 'kpc';
export const ADMIN_TOKEN = 'cluster-test-admin-token';

const quietLogger = { info: () => {}, warn: () => {} };

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

export interface ClusterBackendOptions {
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

type Tree = Record<string, unknown>;
const isTree = (value: unknown): value is Tree => typeof value === 'object' && value !== null && !Array.isArray(value);
function merge(base: Tree, override: Tree): Tree {
  const result: Tree = { ...base };
  for (const [key, value] of Object.entries(override)) result[key] = isTree(value) && isTree(result[key]) ? merge(result[key] as Tree, value) : value;
  return result;
}

export class ClusterBackend {
  readonly replicas: Replica[] = [];
  private readonly clients: TestClient[] = [];
  private tokenCounter = 0;
  private markerCounter = 0;

  private constructor(
    readonly cluster: NatsCluster,
    /** Read live by the provider: users and tokens are added as the tests need them. */
    readonly credentials: DevCredentials,
    readonly provider: DevEcapProvider,
    readonly echo: EchoExtension,
    readonly observer: NatsConnection,
    readonly elce: ElceRecorder,
    readonly pushers: NatsConnection[],
    private readonly opts: ClusterBackendOptions,
  ) {}

  static async start(opts: ClusterBackendOptions): Promise<ClusterBackend> {
    const cluster = await startNatsCluster({ size: 3 });
    const credentials: DevCredentials = { users: {}, tokens: {}, certificates: {} };
    const provider = new DevEcapProvider({ natsUrls: cluster.urls([opts.providerNode]), credentials, logger: quietLogger });
    const echo = new EchoExtension({ natsUrls: cluster.urls([opts.echoNode]), instanceName: ECHO, logger: quietLogger });
    const connections: NatsConnection[] = [];
    try {
      await Promise.all([provider.start(), echo.start()]);
      const observer = await connectToNats(cluster.urls([opts.observerNode]), 'cluster-test-observer');
      connections.push(observer);
      const elce = await ElceRecorder.start(observer);
      const pushers: NatsConnection[] = [];
      for (const node of opts.pusherNodes ?? cluster.nodes.map((n) => n.index)) {
        const pusher = await connectToNats(cluster.urls([node]), `cluster-test-pusher-n${node}`);
        connections.push(pusher);
        pushers.push(pusher);
      }
      await cluster.interestBarrier();
      return new ClusterBackend(cluster, credentials, provider, echo, observer, elce, pushers, opts);
    } catch (error) {
      await Promise.all([provider.stop(), echo.stop(), ...connections.map((nc) => nc.close())]).catch(() => {});
      await cluster.stop();
      throw error;
    }
  }

  liveReplicas(): Replica[] {
    return this.replicas.filter((replica) => replica.alive);
  }

  /** A fresh token `token-cN` of endpoint `endpoint-cN`, known to the provider. */
  newToken(): { token: string; endpointId: string } {
    const n = ++this.tokenCounter;
    const token = `token-c${n}`;
    const endpointId = `endpoint-c${n}`;
    this.credentials.tokens[token] = { endpointId };
    return { token, endpointId };
  }

  /** A KPC replica pinned to NATS node `node` (see the header), healthy, with its beacon speaking. */
  async startReplica(opts: StartReplicaOptions): Promise<Replica> {
    const { nodes } = this.cluster;
    const gates = await Promise.all(nodes.map((node) => startTcpGate({ port: node.port })));
    gates.forEach((gate, j) => (j === opts.node ? gate.open() : gate.close()));
    const order = [opts.node, ...nodes.map((n) => n.index).filter((j) => j !== opts.node)];
    const config = merge(merge({ server: { 'admin-token': ADMIN_TOKEN } }, this.opts.replicaConfig ?? {}), opts.config ?? {});
    let kpc: KpcHandle;
    try {
      kpc = await startKpc({ natsUrls: order.map((j) => gates[j]!.url), config });
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
    this.credentials.users[user] ??= { password: passwordOf(user) };
    const clientId = `${user.slice(0, 12)}-${randomBytes(3).toString('hex')}`; // aedes refuses ids over 23 characters
    const client = await TestClient.connect(kpc.mqttUrl, clientId, { clientId, username: user, password: passwordOf(user), ...opts });
    this.clients.push(client);
    return client;
  }

  /** The client speaks for `token` (a request on it is answered) and `kpc` announces the endpoint `connected`. */
  async speakFor(kpc: KpcHandle, client: TestClient, token: string): Promise<void> {
    const endpointId = this.credentials.tokens[token]?.endpointId;
    if (endpointId === undefined) throw new Error(`unknown token ${token}`);
    const since = this.elce.mark();
    const topic = tokenTopic(token, 'hello', 1);
    const answer = await client.request(topic, `hello from ${client.name}`);
    if (answer.topic !== `${topic}/status`) throw new Error(`${client.name} speaking for ${token}: answered on ${answer.topic}: ${answer.payload.toString()}`);
    await this.elce.waitFor((e) => listing('connected', endpointId)(e) && e.originatorReplicaId === kpc.replicaId, `connected ${endpointId} from ${kpc.replicaId}`, {
      since,
    });
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
    await Promise.all(this.clients.map((client) => client.mqtt.endAsync(true).catch(() => {})));
    await Promise.all(this.replicas.map((replica) => replica.kpc.stop('SIGKILL')));
    await Promise.all(this.replicas.flatMap((replica) => replica.gates.map((gate) => gate.stop())));
    this.elce.stop();
    await Promise.all([this.provider.stop(), this.echo.stop(), this.observer.close(), ...this.pushers.map((nc) => nc.close())]);
    await this.cluster.stop();
  }
}


/** Sums the counters of an outcome over several replicas' snapshots. */
export function sumOf(snapshots: ExtensionDataCounts[], outcome: string): number {
  return snapshots.reduce((sum, counts) => sum + (counts[outcome] ?? 0), 0);
}
