// kaa.kpc.workers: 2 — one KPC process, two worker replicas behind the same MQTT port. Each worker
// has its own replica id; the primary replaces a worker that dies (whose endpoints are announced
// disconnected at once), serves /health, /metrics and session inspection for all of them, and
// drains them all on SIGTERM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KpcHandle } from '../support/kpc-process.js';
import { listing } from '../support/elce-recorder.js';
import { waitUntil, within } from '../support/waiting.js';
import { endpointOf, type Stack, startStack, tokenTopic } from '../support/stack.js';
import { waitForHealth } from '../support/kpc-probes.js';
import type { TestClient } from '../support/mqtt.js';

const ADMIN_TOKEN = 'workers-admin';
const CLIENTS = 8;
const GRACEFUL_SHUTDOWN_S = 5;

let stack: Stack;
let kpc: KpcHandle;

const users = Array.from({ length: CLIENTS + 1 }, (_, i) => `user${i + 1}`);

beforeAll(async () => {
  stack = await startStack({ noKpc: true, users, tokens: CLIENTS + 1 });
  kpc = await stack.startKpc({
    config: {
      kaa: { kpc: { workers: 2 } },
      server: { 'admin-token': ADMIN_TOKEN },
      service: { 'graceful-shutdown': GRACEFUL_SHUTDOWN_S },
    },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const workerReplica = (n: number, restart?: number) => `${kpc.replicaId}-w${n}${restart === undefined ? '' : `-r${restart}`}`;

/** The client speaks for `token`; resolves with the replica that announced its endpoint connected. */
async function speakFor(client: TestClient, token: string): Promise<string> {
  const since = stack.elce.mark();
  const topic = tokenTopic(token, 'hello', 1);
  const answer = await client.request(topic, `hello from ${client.name}`);
  expect(answer.topic).toBe(`${topic}/status`);
  const event = await stack.elce.waitFor(listing('connected', endpointOf(token)), `connected ${endpointOf(token)}`, { since });
  return event.originatorReplicaId;
}

async function admin(path: string): Promise<unknown> {
  const response = await fetch(`${kpc.httpUrl}${path}`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(response.status).toBe(200);
  return response.json();
}

async function metricsText(): Promise<string> {
  return (await fetch(`${kpc.httpUrl}/metrics`)).text();
}

const metric = (text: string, name: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
};

/** The pid the primary logged for a worker's replica id. */
async function pidOf(replicaId: string): Promise<number> {
  const line = await kpc.waitForLog(new RegExp(`"event":"worker.started".*"replica":"${replicaId}"`), 15_000);
  return (JSON.parse(line) as { pid: number }).pid;
}

describe('workers: 2', () => {
  const holderOf = new Map<string, string>(); // token → replica id
  const clients = new Map<string, TestClient>(); // token → client

  it('two worker replicas with their own ids serve clients on the one MQTT port', async () => {
    for (let n = 1; n <= CLIENTS; n++) {
      const token = `token-${n}`;
      const client = await stack.connect(kpc, users[n - 1]!);
      clients.set(token, client);
      holderOf.set(token, await speakFor(client, token));
    }
    expect(new Set(holderOf.values())).toEqual(new Set([workerReplica(1), workerReplica(2)]));

    const sessions = (await admin('/sessions')) as { live: Array<{ replicaId: string }> };
    expect(sessions.live).toHaveLength(CLIENTS);
    expect(new Set(sessions.live.map((s) => s.replicaId))).toEqual(new Set([workerReplica(1), workerReplica(2)]));

    const endpoint = (await admin(`/endpoints/${endpointOf('token-1')}`)) as { heldHere: boolean; replicaId: string };
    expect(endpoint).toMatchObject({ heldHere: true, replicaId: holderOf.get('token-1') });
  });

  it('/metrics adds up the workers; /health is up only with every worker up', async () => {
    const text = await metricsText();
    expect(metric(text, 'kpc_connections_open')).toBe(CLIENTS);
    expect(metric(text, 'kpc_workers_running')).toBe(2);
    expect(metric(text, 'kpc_nats_connected')).toBe(1);
    const health = await waitForHealth(kpc, 200);
    expect(JSON.parse(health.body).components).toMatchObject({ 'worker-1': 'UP', 'worker-2': 'UP', nats: 'UP', 'mqtt-tcp': 'UP' });
  });

  it('kill -9 of one worker: its endpoints are announced disconnected, it is replaced, the other worker’s clients carry on', async () => {
    const dead = workerReplica(1);
    const since = stack.elce.mark();
    process.kill(await pidOf(dead), 'SIGKILL');

    const deadTokens = [...holderOf].filter(([, replica]) => replica === dead).map(([token]) => token);
    const liveTokens = [...holderOf].filter(([, replica]) => replica !== dead).map(([token]) => token);
    for (const token of deadTokens) {
      await stack.elce.waitFor(
        (e) => listing('disconnected', endpointOf(token))(e) && e.originatorReplicaId === dead,
        `${endpointOf(token)} announced disconnected on behalf of ${dead}`,
        { since },
      );
      await clients.get(token)!.waitForClose();
    }
    for (const token of liveTokens) {
      expect(clients.get(token)!.isClosed).toBe(false);
      const answer = await clients.get(token)!.request(tokenTopic(token, 'after-kill', 2), 'still here');
      expect(answer.payload.toString()).toBe('still here');
    }
    expect(stack.elce.find((e) => e.type === 'disconnected' && liveTokens.some((t) => Object.hasOwn(e.endpoints, endpointOf(t))), since)).toEqual([]);

    await pidOf(workerReplica(1, 1));
    await waitForHealth(kpc, 200, 20_000);
    expect(metric(await metricsText(), 'kpc_worker_restarts_total')).toBe(1);

    // The replacement takes clients again: connect until one lands on it (round-robin: the next one or two).
    const token = `token-${CLIENTS + 1}`;
    const late = await stack.connect(kpc, users[CLIENTS]!);
    expect([workerReplica(1, 1), workerReplica(2)]).toContain(await speakFor(late, token));
  });

  it('SIGTERM drains every worker and exits 0', async () => {
    const since = stack.elce.mark();
    const exited = kpc.stop('SIGTERM');
    const stillHeld = [...holderOf].filter(([, replica]) => replica === workerReplica(2)).map(([token]) => token);
    for (const token of stillHeld) {
      await stack.elce.waitFor(listing('disconnected', endpointOf(token)), `${endpointOf(token)} disconnected at shutdown`, { since });
    }
    expect(await within(exited, GRACEFUL_SHUTDOWN_S * 1_000 + 10_000, 'KPC exiting')).toBe(0);
    await waitUntil(() => [...clients.values()].every((c) => c.isClosed), 'every client closed');
  });
});
