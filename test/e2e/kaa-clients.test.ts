// KPC driven exactly as Kaa's own device clients drive a Kaa cluster, against the stand-ins for
// Kaa's standard extensions (dev/kaa-extensions.ts) on a real nats-server:
//   - mqtt.js the way @kaaiot/mqtt-client uses it: QoS 0, random request IDs, `<topic>/+` subscribed
//     before or after the publish, command waits that only SUBSCRIBE;
//   - paho-mqtt the way Kaa's Python examples use it (its default MQTT 3.1.1 session), as a child
//     process (python3-paho-mqtt, installed by scripts/ensure-setup.mjs).
// Data collection (dcx), metadata (epmx), commands (cex) and configuration (cmx).
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EchoExtension } from '../../dev/echo-extension.js';
import { KaaExtensionStandIn, type KaaExtensionInstance } from '../../dev/kaa-extensions.js';
import { waitUntil } from '../support/waiting.js';
import { APP_NAME, APP_VERSION, DEVICE, type Stack, startStack } from '../support/stack.js';
import { connectAs, kpTopic, type ReceivedMessage, TestClient } from '../support/mqtt.js';

const INSTANCES: KaaExtensionInstance[] = ['dcx', 'epmx', 'cex', 'cmx', 'cmx_ota'];
const quiet = { info: () => {}, warn: () => {} };

let stack: Stack;
const standIns = new Map<KaaExtensionInstance, KaaExtensionStandIn>();
const extensions: EchoExtension[] = [];

beforeAll(async () => {
  stack = await startStack({
    kpcConfig: {
      kaa: {
        applications: { [APP_NAME]: { versions: { [APP_VERSION]: { 'allowed-extension-instances': INSTANCES } } } },
        'extension-instances': Object.fromEntries(INSTANCES.map((name) => [name, { 'endpoint-aware': true }])),
      },
    },
  });
  for (const name of INSTANCES) {
    const extension = new EchoExtension({ natsUrls: stack.nats.url, instanceName: name, logger: quiet });
    standIns.set(name, new KaaExtensionStandIn(name, extension));
    extensions.push(extension);
    await extension.start();
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(extensions.map((extension) => extension.stop()));
  await stack?.stop();
});

/** A request ID as Kaa's clients pick them: random. */
const randomRequestId = () => 1 + Math.floor(Math.random() * 99);

/**
 * One request the @kaaiot/mqtt-client way: subscribe `<topic>/+` (before the publish, or after it
 * with `subscribeAfter`), publish at QoS 0, take the first `/status` or `/error`.
 */
async function kaaRequest(inbox: TestClient, topic: string, payload: unknown, subscribeAfter = false): Promise<ReceivedMessage> {
  const answer = inbox.waitFor((t) => t === `${topic}/status` || t === `${topic}/error`);
  const body = payload === undefined ? '' : JSON.stringify(payload);
  if (!subscribeAfter) await inbox.client.subscribeAsync(`${topic}/+`, { qos: 0 });
  await inbox.client.publishAsync(topic, body, { qos: 0 });
  if (subscribeAfter) await inbox.client.subscribeAsync(`${topic}/+`, { qos: 0 });
  return answer;
}

const json = (message: ReceivedMessage): unknown => (message.payload.length === 0 ? null : JSON.parse(message.payload.toString('utf8')));

describe('@kaaiot/mqtt-client behaviour (mqtt.js, QoS 0, random request IDs)', () => {
  let client: MqttClient;
  let inbox: TestClient;
  let token: string;
  let endpointId: string;

  beforeAll(async () => {
    ({ token, endpointId } = stack.newToken('kaa-js'));
    client = await connectAs(stack.kpc, DEVICE);
    inbox = new TestClient(client);
  });
  afterAll(() => client?.endAsync());

  it('data collection: kp1/{av}/dcx/{token}/json/{id} → /status', async () => {
    const topic = kpTopic(APP_VERSION, 'dcx', token, 'json', randomRequestId());
    const status = await kaaRequest(inbox, topic, [{ temperature: 21, humidity: 73 }]);
    expect(status.topic).toBe(`${topic}/status`);
    const afterwards = kpTopic(APP_VERSION, 'dcx', token, 'json', randomRequestId());
    expect((await kaaRequest(inbox, afterwards, { temperature: 22 }, true)).topic).toBe(`${afterwards}/status`);
  });

  it('metadata: /update/keys then /get returns it; /get/keys lists the keys', async () => {
    await kaaRequest(inbox, kpTopic(APP_VERSION, 'epmx', token, 'update', 'keys', randomRequestId()), { name: 'thermostat', floor: 3 });
    expect(json(await kaaRequest(inbox, kpTopic(APP_VERSION, 'epmx', token, 'get', randomRequestId()), undefined))).toEqual({ name: 'thermostat', floor: 3 });
    expect(json(await kaaRequest(inbox, kpTopic(APP_VERSION, 'epmx', token, 'get', 'keys', randomRequestId()), undefined))).toEqual(['name', 'floor']);
    expect(standIns.get('epmx')!.metadataOf(endpointId)).toEqual({ name: 'thermostat', floor: 3 });
  });

  it('configuration: /config/json with {"observe":true} → the config; a new one is pushed to the observer', async () => {
    const topic = kpTopic(APP_VERSION, 'cmx', token, 'config', 'json', randomRequestId());
    expect(json(await kaaRequest(inbox, topic, { observe: true }))).toMatchObject({ configId: 'initial', statusCode: 200, config: {} });
    const configId = await standIns.get('cmx')!.setConfiguration(endpointId, APP_VERSION, { interval: 30 });
    const pushed = await inbox.waitFor(`${kpTopic(APP_VERSION, 'cmx', token, 'config', 'json')}/status`);
    expect(json(pushed)).toMatchObject({ configId, config: { interval: 30 } });
    await kaaRequest(inbox, kpTopic(APP_VERSION, 'cmx', token, 'applied', 'json', randomRequestId()), { configId, statusCode: 200 });
    const ota = kpTopic(APP_VERSION, 'cmx_ota', token, 'config', 'json', randomRequestId());
    expect(json(await kaaRequest(inbox, ota, { configId: 'initial' }))).toMatchObject({ statusCode: 304 });
  });

  it('commands: a client that only SUBSCRIBEs to command/{type}/+ gets the command, reports the result, and nothing stays pending', async () => {
    const { token: waiter, endpointId: waiterId } = stack.newToken('kaa-js-commands');
    const commandsClient = await connectAs(stack.kpc, DEVICE);
    const commands = new TestClient(commandsClient);
    try {
      await commandsClient.subscribeAsync(kpTopic(APP_VERSION, 'cex', waiter, 'command', 'reboot', '+'), { qos: 0 });
      const id = await standIns.get('cex')!.sendCommand(waiterId, APP_VERSION, 'reboot', { delay: 5 });
      const command = await commands.waitFor(kpTopic(APP_VERSION, 'cex', waiter, 'command', 'reboot', 'status'));
      expect(json(command)).toEqual([{ id, payload: { delay: 5 } }]);
      const result = kpTopic(APP_VERSION, 'cex', waiter, 'result', 'reboot', randomRequestId());
      expect((await kaaRequest(commands, result, [{ id, statusCode: 200, reasonPhrase: 'OK', payload: 'done' }])).topic).toBe(`${result}/status`);
      const pending = kpTopic(APP_VERSION, 'cex', waiter, 'command', 'reboot', randomRequestId());
      expect(json(await kaaRequest(commands, pending, { observe: true }))).toEqual([]);
    } finally {
      await commandsClient.endAsync();
    }
  });
});

describe("Kaa's Python client pattern (paho-mqtt, MQTT 3.1.1)", () => {
  const python = pythonWithPaho();

  it('collects data, updates and reads metadata, reads configuration, and executes a pushed command', async () => {
    if (python === undefined) throw new Error('no python3 with paho-mqtt: apt-get install python3-paho-mqtt (scripts/ensure-setup.mjs does it as root)');
    const { token, endpointId } = stack.newToken('paho');
    const script = join(dirname(fileURLToPath(import.meta.url)), 'kaa-clients/paho_device.py');
    const child = spawn(python, [script, '127.0.0.1', String(stack.kpc.mqttPort), DEVICE.username, DEVICE.password, APP_VERSION, token]);
    const lines: Array<Record<string, string>> = [];
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const line of parts) if (line.trim() !== '') lines.push(JSON.parse(line));
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitUntil(() => lines.some((line) => 'ready' in line) || child.exitCode !== null, 'the paho device waiting for a command', {
        detail: () => `stdout: ${JSON.stringify(lines)}\nstderr: ${stderr}`,
      });
      const id = await standIns.get('cex')!.sendCommand(endpointId, APP_VERSION, 'reboot', null);
      expect(await exited, `paho device failed:\n${stderr}\n${JSON.stringify(lines)}`).toBe(0);

      const statusOf = (instance: string, path: string) =>
        lines.find((line) => line.topic?.startsWith(`kp1/${APP_VERSION}/${instance}/${token}/${path}`) && line.topic.endsWith('/status'));
      expect(statusOf('dcx', 'json/')).toBeDefined();
      expect(JSON.parse(statusOf('epmx', 'get/')!.payload!)).toEqual({ model: 'paho' });
      expect(JSON.parse(statusOf('cmx', 'config/json/')!.payload!)).toMatchObject({ statusCode: 200, config: {} });
      expect(JSON.parse(statusOf('cex', 'command/reboot')!.payload!)).toEqual([{ id, payload: null }]);
      expect(statusOf('cex', 'result/reboot/')).toBeDefined();
      expect(lines.filter((line) => line.topic?.endsWith('/error'))).toEqual([]);
    } finally {
      child.kill();
    }
  });
});

/** The first python3 that can import paho.mqtt (Debian's lives in /usr/bin; a pyenv one may come first on PATH). */
function pythonWithPaho(): string | undefined {
  return ['python3', '/usr/bin/python3'].find((candidate) => spawnSync(candidate, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore' }).status === 0);
}
