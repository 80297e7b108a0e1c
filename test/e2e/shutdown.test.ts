// Graceful shutdown: on SIGTERM/SIGINT KPC stops accepting, marks /health down, closes
// the client connections announcing their endpoints disconnected, flushes what it owes NATS, and
// exits 0 within `service.graceful-shutdown`.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KpcHandle } from '../support/kpc-process.js';
import type { ElceEvent } from '../support/elce-recorder.js';
import { startTcpGate, type TcpGate } from '../support/tcp-gate.js';
import { waitUntil, within } from '../support/waiting.js';
import { getHealth, type HealthAnswer } from '../support/kpc-probes.js';
import { type Stack, startStack, tokenTopic } from '../support/stack.js';
import { Qos1Load } from '../support/qos1-load.js';

const GRACEFUL_SHUTDOWN_S = 5;
/** How long NATS stays silent during the SIGTERM test's shutdown: well within the graceful period. */
const NATS_STALL_MS = 1_000;
/** Bound on waiting for the exit: the service's own deadline plus time for a process to end. */
const EXIT_WAIT_MS = GRACEFUL_SHUTDOWN_S * 1_000 + 5_000;

/** The paced-drain test's clients, one token each (token-5 …). */
const PACED_USERS = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];

let stack: Stack;
let gate: TcpGate;

beforeAll(async () => {
  stack = await startStack({ noKpc: true, users: ['alice', 'bob', 'carol', ...PACED_USERS], tokens: 4 + PACED_USERS.length });
  gate = await startTcpGate({ port: stack.nats.port });
});

afterAll(async () => {
  await stack?.stop();
  await gate?.stop();
});

function startShutdownKpc(natsUrls = [stack.nats.url]): Promise<KpcHandle> {
  return stack.startKpc({ natsUrls, config: { service: { 'graceful-shutdown': GRACEFUL_SHUTDOWN_S } } });
}

/** Polls /health until it stops answering 200; resolves with the first other answer (500, or the port closed). */
function firstUnhealthyAnswer(kpc: KpcHandle): Promise<HealthAnswer> {
  return waitUntil(
    async () => {
      const answer = await getHealth(kpc);
      return answer.status === 200 ? undefined : answer;
    },
    '/health no longer answering 200 after the signal',
    { timeoutMs: EXIT_WAIT_MS, intervalMs: 5 },
  );
}

/** Every endpoint listed in `disconnected` events of `replicaId` recorded at or after `since`. */
function announcedDisconnected(replicaId: string, since: number): Set<string> {
  const events = stack.elce.find((e: ElceEvent) => e.type === 'disconnected' && e.originatorReplicaId === replicaId, since);
  return new Set(events.flatMap((e) => Object.keys(e.endpoints)));
}

describe('graceful shutdown', () => {
  it('SIGTERM: closes the clients, announces their endpoints disconnected, delivers every PUBACKed message and exits 0', async () => {
    // KPC reaches NATS through a gate, so that NATS can be made slow to confirm during the shutdown.
    const kpc = await startShutdownKpc([gate.url]);
    const alice = await stack.connect(kpc, 'alice');
    const bob = await stack.connect(kpc, 'bob');
    await stack.speakFor(kpc, alice, 'token-1');
    await stack.speakFor(kpc, alice, 'token-2');
    await stack.speakFor(kpc, bob, 'token-3');

    // QoS 1 traffic is running when the signal arrives.
    const load = new Qos1Load(
      [
        { client: alice, topic: tokenTopic('token-1') },
        { client: alice, topic: tokenTopic('token-2') },
        { client: bob, topic: tokenTopic('token-3') },
      ],
      2,
    );
    load.start();
    await waitUntil(() => load.everyStreamAcked(20), 'QoS 1 traffic flowing on every stream');

    // From here NATS confirms nothing until released: a KPC that exits without waiting for its
    // publishes to flush loses them (the held bytes die with its connection).
    gate.hold();
    const ackedBeforeSignal = [...load.acked];
    const since = stack.elce.mark();
    const unhealthy = firstUnhealthyAnswer(kpc);
    unhealthy.catch(() => {}); // awaited below; a failure must not surface as an unhandled rejection first
    const exited = within(kpc.stop('SIGTERM'), EXIT_WAIT_MS, 'KPC exiting after SIGTERM');
    exited.catch(() => {});

    // Draining: the clients are closed and /health is down, while KPC waits for NATS...
    await Promise.all([alice.waitForClose(), bob.waitForClose()]);
    const health = await unhealthy;
    expect([500, 'refused']).toContain(health.status);
    // ...which stays silent a while longer (the fault injected, not an assertion): KPC must still
    // be waiting for its last publishes to be confirmed when NATS answers again.
    await sleep(NATS_STALL_MS);
    expect(kpc.process.exitCode ?? kpc.process.signalCode, 'KPC exited before NATS confirmed its last publishes').toBeNull();
    gate.release();

    expect(await exited).toBe(0);
    expect(kpc.logs.some((line) => line.includes('graceful shutdown timed out'))).toBe(false);
    // The streams end with "connection closed" once KPC has closed the connections.
    await load.stop();

    // Published before the process ended (nothing else publishes as this replica).
    const announced = () => announcedDisconnected(kpc.replicaId, since);
    await waitUntil(() => ['endpoint-1', 'endpoint-2', 'endpoint-3'].every((id) => announced().has(id)), 'disconnected events for endpoint-1..3', {
      detail: () => stack.elce.describe(since),
    });

    // Every PUBACKed message, before the signal and during the shutdown, reached the extension.
    const received = () => new Set(stack.echo.received.map((data) => data.payload.toString()));
    const missing = (payloads: Iterable<string>) => [...payloads].filter((payload) => !received().has(payload));
    expect(ackedBeforeSignal.length).toBeGreaterThan(0);
    await waitUntil(() => missing(load.acked).length === 0, 'every PUBACKed payload reaching the extension', {
      detail: () => `missing: ${missing(load.acked).slice(0, 10).join(', ')} (${missing(ackedBeforeSignal).length} of them PUBACKed before the signal)`,
    });
  });

  it('SIGINT: closes the clients, announces their endpoints disconnected and exits 0', async () => {
    const kpc = await startShutdownKpc();
    const carol = await stack.connect(kpc, 'carol');
    await stack.speakFor(kpc, carol, 'token-4');

    const since = stack.elce.mark();
    const exitCode = await within(kpc.stop('SIGINT'), EXIT_WAIT_MS, 'KPC exiting after SIGINT');

    expect(exitCode).toBe(0);
    await carol.waitForClose();
    await waitUntil(() => announcedDisconnected(kpc.replicaId, since).has('endpoint-4'), 'a disconnected event for endpoint-4', {
      detail: () => stack.elce.describe(since),
    });
  });

  it('SIGTERM with service.drain-rate: closes the clients one after another, oldest first, while the rest keep working; all announced, exit 0', async () => {
    // 2 connections/s: six clients take 2.5 s, inside half of the 10 s graceful period.
    const kpc = await stack.startKpc({ config: { service: { 'graceful-shutdown': 10, 'drain-rate': 2 } } });
    const clients = [];
    for (const [i, user] of PACED_USERS.entries()) {
      const client = await stack.connect(kpc, user);
      await stack.speakFor(kpc, client, `token-${5 + i}`);
      clients.push(client);
    }
    const closeOrder: string[] = [];
    for (const client of clients) client.client.once('close', () => closeOrder.push(client.name));

    const since = stack.elce.mark();
    const exited = within(kpc.stop('SIGTERM'), EXIT_WAIT_MS + 10_000, 'KPC exiting after SIGTERM');
    exited.catch(() => {});
    await clients[0]!.waitForClose();
    // At the moment the first client is closed, the last one still works: a request sent now is answered.
    const last = clients.at(-1)!;
    const answer = await last.request(tokenTopic(`token-${4 + PACED_USERS.length}`, 'data', 1), 'still here');
    expect(answer.topic.endsWith('/status')).toBe(true);
    expect(closeOrder).not.toContain(last.name);

    expect(await exited).toBe(0);
    await Promise.all(clients.map((client) => client.waitForClose()));
    expect(closeOrder).toEqual(clients.map((client) => client.name));
    const endpoints = PACED_USERS.map((_, i) => `endpoint-${5 + i}`);
    await waitUntil(() => endpoints.every((id) => announcedDisconnected(kpc.replicaId, since).has(id)), 'disconnected events for every paced client', {
      detail: () => stack.elce.describe(since),
    });
  });

  it('SIGTERM with a drain rate too slow for the graceful period: speeds up and still exits 0 in time', async () => {
    // 1 connection/s would need 5 s for six clients; half of the 4 s graceful period is 2 s.
    const kpc = await stack.startKpc({ config: { service: { 'graceful-shutdown': 4, 'drain-rate': 1 } } });
    const clients = await Promise.all(PACED_USERS.map((user) => stack.connect(kpc, user)));
    const exitCode = await within(kpc.stop('SIGTERM'), EXIT_WAIT_MS, 'KPC exiting after SIGTERM');
    expect(exitCode).toBe(0);
    expect(kpc.logs.some((line) => line.includes('graceful shutdown timed out'))).toBe(false);
    await Promise.all(clients.map((client) => client.waitForClose()));
  });
});
