// A short, seeded MQTT fuzz run against the built KPC (about 3 s; `npm run fuzz` runs the same
// fuzzer for longer). Valid packets from mqtt-packet, mutated, over many short raw TCP connections
// to 127.0.0.1. Afterwards KPC must still run, be healthy, serve a good client, have no session
// left open and no actor failure. Reproduce a failure with FUZZ_SEED=<the printed seed>.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../support/waiting.js';
import { formatStats, goodRequest, randomSeed, runFuzz } from '../support/mqtt-fuzzer.mjs';
import { mqttTransportConfig } from '../support/transports.js';
import { APP_VERSION, DEVICE, ECHO, ECHO_UNAWARE, type Stack, startStack } from '../support/stack.js';
import { connectAs, kpTopic, TestClient } from '../support/mqtt.js';
import { metricValue } from '../support/kpc-probes.js';

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 3);
const SEED = process.env.FUZZ_SEED === undefined ? randomSeed() : Number(process.env.FUZZ_SEED);

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    kpcConfig: mqttTransportConfig({ 'connect-timeout': '1s', 'max-packet-bytes': '256KiB' }),
  });
  stack.credentials.tokens['tok-1'] = { endpointId: 'fuzz-endpoint-1' };
});

afterAll(async () => {
  await stack?.stop();
});

describe('MQTT fuzzing', () => {
  it(`survives ${SECONDS} s of mutated MQTT over raw TCP (seed ${SEED})`, async () => {
    console.log(`fuzz seed ${SEED} (reproduce: FUZZ_SEED=${SEED} npx vitest run test/e2e/fuzz.test.ts)`);
    const kpc = stack.kpc;
    const exited = () => kpc.process.exitCode !== null || kpc.process.signalCode !== null;
    const stats = await runFuzz({
      target: { port: kpc.mqttPort, credentials: DEVICE, appVersion: APP_VERSION, extensions: [ECHO, ECHO_UNAWARE, 'not-allowed'] },
      seed: SEED,
      durationMs: SECONDS * 1_000,
      concurrency: 16,
      shouldStop: exited,
    });
    console.log(formatStats(stats));
    const context = `\n${formatStats(stats)}\nlast cases:\n${stats.recent.join('\n')}\n--- last KPC log lines ---\n${kpc.logs.slice(-20).join('\n')}`;

    expect(exited(), `KPC exited during fuzzing (code ${kpc.process.exitCode}, signal ${kpc.process.signalCode})${context}`).toBe(false);
    // The fuzzer reached MQTT at all: some connections were accepted, some refused.
    expect(stats.cases, context).toBeGreaterThan(50);
    expect(stats.connacks['0'] ?? 0, `no CONNACK 0 seen${context}`).toBeGreaterThan(0);
    expect(Object.keys(stats.connacks).filter((code) => !['0', '1', '2', '3', '4', '5'].includes(code)), `CONNACK codes outside 0–5${context}`).toEqual([]);
    expect(stats.unparseableReplies, `KPC sent bytes that are not MQTT${context}`).toBe(0);

    const health = await fetch(`${kpc.httpUrl}/health`);
    expect(health.status, `${await health.clone().text()}${context}`).toBe(200);
    // A good client on a raw socket (the shared check) and one over mqtt.js.
    expect(await goodRequest({ port: kpc.mqttPort, credentials: DEVICE, topic: kpTopic(APP_VERSION, ECHO_UNAWARE, 'after-fuzz', 1) }), context).toBeNull();
    const client = await connectAs(kpc, DEVICE);
    try {
      const topic = kpTopic(APP_VERSION, ECHO, 'tok-1', 'after-fuzz', 2);
      expect((await new TestClient(client).request(topic, 'still here')).topic).toBe(`${topic}/status`);
    } finally {
      await client.endAsync();
    }
    // Every fuzz connection is gone, so no session may stay open; no session actor crashed.
    await waitUntil(async () => (await metricValue(kpc, 'kpc_connections_open')) === 0, 'kpc_connections_open to return to 0 after fuzzing', { timeoutMs: 10_000, intervalMs: 100 });
    expect(await metricValue(kpc, 'kpc_session_actor_failures_total'), context).toBe(0);
    expect(kpc.logs.filter((line) => /"level":"(error|fatal)"/.test(line)), 'error/fatal log lines').toEqual([]);
  }, 60_000);
});
