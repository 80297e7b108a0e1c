// NATS killed (SIGKILL) and restarted on the same port while MQTT clients keep QoS 1 traffic going
// (QoS 1 PUBACK only after NATS confirmed; CONNACK 3 and /health 500 while NATS is down).
//
// WHAT THIS TESTS. KPC's promise is: a PUBACK is sent only once the NATS server has accepted the
// ClientData; what NATS did not confirm is kept and published again after the reconnect. So every
// payload a client got a PUBACK for must reach the extension at least once (duplicates allowed).
//
// WHAT IT MUST NOT TEST. Core NATS has no persistence: a message the server accepts while the
// extension's own connection is down (or before its subscription is back on the restarted server)
// is delivered to nobody, and that is not KPC's doing. After a restart KPC and the extension
// reconnect independently, in either order; if KPC came back first and republished its parked
// messages before the extension had resubscribed, those messages would be dropped by NATS and the
// test would fail for a reason outside KPC. So KPC reaches NATS through a TCP gate the test
// controls (test/support/tcp-gate.ts): the gate is closed before the kill, and opened only once a
// probe ClientData sent straight to NATS has round-tripped through the extension (and a probe token
// request through the ECAP provider) — i.e. once the dev helpers have reconnected by themselves and
// their subscriptions are registered on the new server. KPC's link sees what it would see without
// the gate: its socket drops when the server dies, reconnect attempts fail while NATS is "down",
// and succeed later. The gate also makes sure the outage swallows bytes KPC had already written
// (see "outage" below), which is the case a naive "publish, then PUBACK" implementation gets wrong.
//
// The one window left is inside nats-server itself: a message it accepted and confirmed (PONG) to
// KPC but had not yet written to the extension's socket when it was SIGKILLed is lost by the
// server. That window is microseconds wide; it is not something any client can close.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecs } from '../../src/infra/nats/codecs.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { startTcpGate, type TcpGate } from '../support/tcp-gate.js';
import { expectNoAcknowledgedLoss } from '../support/no-acknowledged-loss.js';
import { waitUntil } from '../support/waiting.js';
import { connackCode, type TestClient } from '../support/mqtt.js';
import { ECHO, passwordOf, type Stack, startStack, tokenTopic } from '../support/stack.js';
import { getHealth, waitForHealth } from '../support/kpc-probes.js';
import { Qos1Load } from '../support/qos1-load.js';

const PUBLISHERS = ['user-1', 'user-2', 'user-3', 'user-4', 'user-5'];
const LATE_USER = 'late-user';
/** Idle until the outage: its one publish then is handled at once (aedes reads a connection's next
 * packets only after its current ones are acknowledged, so a busy client's publish could wait). */
const WITNESS_USER = 'witness-user';
const WITNESS_TOKEN = `token-${PUBLISHERS.length + 1}`;
const IN_FLIGHT_PER_CLIENT = 3;
/** PUBACKs each client collects before the outage, and after it (the load is really running). */
const ACKS_PER_PHASE = 50;

let stack: Stack;
let gate: TcpGate;
let kpc: KpcHandle;

beforeAll(async () => {
  stack = await startStack({ noKpc: true, users: [...PUBLISHERS, LATE_USER, WITNESS_USER], tokens: PUBLISHERS.length + 1 });
  gate = await startTcpGate({ port: stack.nats.port });
  kpc = await stack.startKpc({ natsUrls: [gate.url] });
});

afterAll(async () => {
  await stack?.stop();
  await gate?.stop();
});

/** Retries `ask` (a NATS request straight to a dev helper) until it is answered. */
async function probe(what: string, ask: () => Promise<boolean>): Promise<void> {
  await waitUntil(() => ask().catch(() => false), what, { timeoutMs: 15_000, intervalMs: 100 });
}

/** The echo extension answers a ClientData sent to its subject: its subscription is registered. */
function extensionAnswers(): Promise<boolean> {
  const correlationId = randomUUID();
  const probeData = codecs.clientData.encode({
    correlationId,
    timestamp: Date.now(),
    timeout: 0,
    appVersionName: 'probe',
    endpointId: null,
    resourcePath: '/probe',
    requestId: 0, // the echo extension answers requests only
    payload: Buffer.from(`probe-${correlationId}`),
    configName: null,
  });
  return stack.nc
    .request(subjects.clientData(ECHO), probeData, { timeout: 500 })
    .then((reply) => codecs.extensionData.decode(reply.data).correlationId === correlationId);
}

/** The ECAP provider answers a token request: its subscriptions are registered. */
function providerAnswers(): Promise<boolean> {
  const correlationId = randomUUID();
  const request = codecs.tokenRequest.encode({ correlationId, timestamp: Date.now(), timeout: 500, appName: 'demo_application', token: 'token-1' });
  return stack.nc
    .request(subjects.tokenRequest('cm'), request, { timeout: 500 })
    .then((reply) => codecs.tokenResponse.decode(reply.data).correlationId === correlationId);
}

const received = (): Set<string> => new Set(stack.echo.received.map((data) => data.payload.toString()));

describe('NATS killed and restarted under QoS 1 load', () => {
  it('loses no PUBACKed message, reports itself down meanwhile and refuses new clients with CONNACK 3', async () => {
    const clients: TestClient[] = await Promise.all(PUBLISHERS.map((user) => stack.connect(kpc, user)));
    const witness = await stack.connect(kpc, WITNESS_USER);
    await stack.speakFor(kpc, witness, WITNESS_TOKEN);
    const load = new Qos1Load(
      clients.map((client, i) => ({ client, topic: tokenTopic(`token-${i + 1}`) })),
      IN_FLIGHT_PER_CLIENT,
    );
    load.phase = 'before';
    load.start();
    // Every client's token is identified and its traffic flows before NATS goes away.
    await waitUntil(() => load.everyStreamAcked(ACKS_PER_PHASE), `every client having ${ACKS_PER_PHASE} PUBACKs before the outage`);

    // --- outage ---
    // Bytes in flight die with the server. On loopback a bare SIGKILL rarely catches any, so the
    // link is first turned into a black hole, and a QoS 1 message is seen going into it: KPC has
    // written that ClientData to its socket, and NATS will never have it.
    gate.close();
    gate.blackHole();
    load.phase = 'outage';
    const inFlight = 'in-flight-at-the-outage';
    const inFlightAcked = witness.publishQos1(tokenTopic(WITNESS_TOKEN), inFlight);
    inFlightAcked.catch(() => {}); // awaited below; a rejection must not count as unhandled meanwhile
    await waitUntil(() => gate.discardedFromClient.includes(inFlight), 'KPC writing a QoS 1 ClientData into the dead link');
    await stack.nats.kill('SIGKILL');
    const down = await waitForHealth(kpc, 500);
    expect(down.body).toContain('NATS');
    // New clients are refused at once with "server unavailable", not left hanging.
    expect(await connackCode(kpc.mqttUrl, { username: LATE_USER, password: passwordOf(LATE_USER) })).toBe(3);
    // The clients' QoS 1 publishes now wait for PUBACKs that only a confirmed NATS publish may release.
    const unacknowledgedDuringOutage = load.outstanding();
    expect(unacknowledgedDuringOutage.length, 'publishes left waiting for PUBACK during the outage').toBeGreaterThan(0);

    // --- restart; the dev helpers come back by themselves before KPC may ---
    await stack.nats.restart();
    await probe('the echo extension answering a probe ClientData after the restart', extensionAnswers);
    await probe('the ECAP provider answering a probe token request after the restart', providerAnswers);
    expect((await getHealth(kpc)).status, 'KPC still cut off from NATS by the closed gate').toBe(500);
    load.phase = 'after';
    gate.open();
    await waitForHealth(kpc, 200);
    await expectNoAcknowledgedLoss({
      load, clients, witness, inFlight, inFlightAcked, unacknowledgedDuringOutage, received, acksPerClientAfterFault: ACKS_PER_PHASE,
    });

    // The provider is reachable through KPC again: a new client is accepted.
    const late = await stack.connect(kpc, LATE_USER);
    const answer = await late.request(tokenTopic('token-1', 'data', 1), 'after the outage');
    expect(answer.topic).toBe(`${tokenTopic('token-1', 'data', 1)}/status`);
  });
});
