// A real NATS cluster for tests: `size` nats-server processes on loopback, fully meshed by routes
// (`--cluster`, `--routes`, `--cluster_name`), each with its monitoring endpoint. Started with
// `--no_advertise`, so a client knows only the URLs it was given (no gossiped cluster URLs): a
// process that reconnects does so through its own NATS_URLS list, as the tests intend.
//
// Interest in a cluster travels asynchronously: a subscription made on node A is known on node B
// only once A's route told B. `interestBarrier()` is the bounded wait that makes that
// deterministic: once it returns, every subscription any live node had processed before the call
// is known to every live node. (A node forwards interest over a route in the order it processed
// the SUBs; nats-server 2.9 keeps one route per pair of nodes; so a probe subscription made after
// them, seen from every other node, proves the earlier ones are known there too.)
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { getFreePort, startNatsServer, type NatsServerHandle } from './nats-server.js';
import { waitUntil } from './waiting.js';

export interface NatsNode {
  index: number;
  /** `--server_name`: n0, n1, ... */
  name: string;
  port: number;
  url: string;
  clusterPort: number;
  monitorPort: number;
  server: NatsServerHandle;
  readonly alive: boolean;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** The client URLs of the nodes in this order (default: node order). */
  urls(order?: number[]): string[];
  /** Resolves once every live node has a route to every other live node (bounded). */
  waitForRoutes(timeoutMs?: number): Promise<void>;
  /** See the header: every subscription processed so far is known on every live node. */
  interestBarrier(timeoutMs?: number): Promise<void>;
  /** GET a monitoring endpoint (`/routez`, `/connz?subs=1`, ...) of a live node, parsed. */
  monitor<T = Record<string, unknown>>(node: number, path: string): Promise<T>;
  /** The client connections of a live node, with their subscription counts. */
  connections(node: number): Promise<ConnzConnection[]>;
  /** Kills a node (default SIGKILL); resolves once the process has exited. */
  kill(node: number, signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

export interface ConnzConnection {
  cid: number;
  name?: string;
  subscriptions: number;
  subscriptions_list?: string[];
}

export interface NatsClusterOptions {
  size?: number;
  /** `--cluster_name` (default `kpc-test`). */
  name?: string;
}

export async function startNatsCluster(opts: NatsClusterOptions = {}): Promise<NatsCluster> {
  const size = opts.size ?? 3;
  const clusterName = opts.name ?? 'kpc-test';
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({ client: await getFreePort(), cluster: await getFreePort(), monitor: await getFreePort() })),
  );
  const routeUrl = (i: number) => `nats://127.0.0.1:${ports[i]!.cluster}`;

  const nodes: NatsNode[] = [];
  const stopAll = () => Promise.all(nodes.map((node) => node.server.stop().catch(() => {})));
  try {
    for (let i = 0; i < size; i++) {
      const routes = ports.map((_, j) => j).filter((j) => j !== i).map(routeUrl).join(',');
      const server = await startNatsServer({
        port: ports[i]!.client,
        args: [
          '--server_name', `n${i}`,
          '-m', String(ports[i]!.monitor),
          '--cluster', routeUrl(i),
          '--routes', routes,
          '--cluster_name', clusterName,
          '--no_advertise',
        ],
      });
      let alive = true;
      nodes.push({
        index: i,
        name: `n${i}`,
        port: ports[i]!.client,
        url: server.url,
        clusterPort: ports[i]!.cluster,
        monitorPort: ports[i]!.monitor,
        server: {
          ...server,
          stop: async () => {
            alive = false;
            await server.stop();
          },
          kill: async (signal) => {
            if (signal !== 'SIGSTOP' && signal !== 'SIGCONT' && signal !== 'SIGTSTP') alive = false;
            await server.kill(signal);
          },
          restart: async () => {
            await server.restart();
            alive = true;
          },
        },
        get alive() {
          return alive;
        },
      });
    }
  } catch (error) {
    await stopAll();
    throw error;
  }

  const live = () => nodes.filter((node) => node.alive);
  const nodeAt = (index: number): NatsNode => {
    const node = nodes[index];
    if (node === undefined) throw new Error(`no NATS node ${index}`);
    return node;
  };

  async function monitor<T>(index: number, path: string): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${nodeAt(index).monitorPort}${path}`, { signal: AbortSignal.timeout(2_000) });
    if (!response.ok) throw new Error(`GET ${path} on NATS node n${index}: HTTP ${response.status}`);
    return (await response.json()) as T;
  }

  const cluster: NatsCluster = {
    nodes,
    urls: (order = nodes.map((node) => node.index)) => order.map((index) => nodeAt(index).url),
    monitor,
    async connections(index) {
      const connz = await monitor<{ connections: ConnzConnection[] }>(index, '/connz?subs=1&limit=1024');
      return connz.connections;
    },
    async waitForRoutes(timeoutMs = 15_000) {
      let last = '';
      await waitUntil(
        async () => {
          const alive = live();
          const counts = await Promise.all(alive.map((node) => monitor<{ num_routes: number }>(node.index, '/routez').then((r) => r.num_routes)));
          last = alive.map((node, i) => `n${node.index}: ${counts[i]} route(s)`).join(', ');
          return counts.every((count) => count >= alive.length - 1);
        },
        `every live NATS node routing to the ${live().length - 1} others`,
        { timeoutMs, intervalMs: 50, detail: () => last },
      );
    },
    async interestBarrier(timeoutMs = 10_000) {
      const alive = live();
      const connections: NatsConnection[] = [];
      try {
        for (const node of alive) {
          connections.push(await connect({ servers: node.url, name: `interest barrier n${node.index}`, noRandomize: true, maxReconnectAttempts: 0 }));
        }
        const id = randomBytes(4).toString('hex');
        const subjectOf = (node: NatsNode) => `kpc-test.interest-barrier.${id}.n${node.index}`;
        /** heard[i]: the nodes whose publishes reached node i's probe subscription. */
        const heard = alive.map(() => new Set<number>());
        alive.forEach((node, i) =>
          connections[i]!.subscribe(subjectOf(node), { callback: (error, msg) => !error && heard[i]!.add(Number(msg.string())) }),
        );
        await Promise.all(connections.map((nc) => nc.flush()));
        const missing = () =>
          alive.flatMap((to, i) => alive.filter((from) => from !== to && !heard[i]!.has(from.index)).map((from) => ({ from, to })));
        await waitUntil(
          async () => {
            const pairs = missing();
            if (pairs.length === 0) return true;
            for (const { from, to } of pairs) connections[alive.indexOf(from)]!.publish(subjectOf(to), String(from.index));
            await Promise.all(connections.map((nc) => nc.flush()));
            return false;
          },
          'a probe subscription on every live NATS node being reached from every other node',
          { timeoutMs, intervalMs: 10, detail: () => missing().map(({ from, to }) => `n${from.index} → n${to.index}`).join(', ') },
        );
      } finally {
        await Promise.all(connections.map((nc) => nc.close().catch(() => {})));
      }
    },
    kill: (index, signal = 'SIGKILL') => nodeAt(index).server.kill(signal),
    stop: async () => {
      await stopAll();
    },
  };

  try {
    await cluster.waitForRoutes();
    await cluster.interestBarrier();
  } catch (error) {
    await stopAll();
    throw error;
  }
  return cluster;
}
