// Defects an adversarial run found in 0.1.0, each against the real service: QoS 2 relayed twice,
// unbounded subscriptions, malformed topic encodings accepted, oversized outbound packets, a
// credential provider's 200 without credentialId, log floods from junk on KPC's NATS subjects, and
// a management server that could not be bound to one address.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { codecs } from '../../src/infra/nats/codecs.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import { startKpc } from '../support/kpc-process.js';
import { getFreePort } from '../support/nats-server.js';
import { waitUntil } from '../support/waiting.js';
import { rawConnack, rawTcp, tcpConnackCode, type RawMqttConnection } from '../support/raw-mqtt.js';
import { APP_VERSION, DEVICE, ECHO_UNAWARE, type Stack, startStack } from '../support/stack.js';
import { connectAs, kpTopic, subackCode, TestClient } from '../support/mqtt.js';
import { metricValue } from '../support/kpc-probes.js';

const MAX_PACKET_BYTES = 64 * 1024;
const MAX_SUBSCRIPTIONS = 3;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    kpcConfig: { kaa: { kpc: { transports: { mqtt: { 'max-packet-bytes': '64KiB', 'max-subscriptions': MAX_SUBSCRIPTIONS } } } } },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function connectedRaw(): Promise<RawMqttConnection> {
  const connection = await rawTcp(stack.kpc.mqttPort);
  expect(await rawConnack(connection, { username: DEVICE.username, password: DEVICE.password })).toBe(0);
  return connection;
}

/** Lines KPC logged with this `event`. */
const logLines = (event: string) => stack.kpc.logs.filter((line) => line.includes(`"event":"${event}"`));

describe('QoS 2 (MQTT 3.1.1 section 4.3.3)', () => {
  it('a PUBLISH retransmitted with DUP before PUBREL is relayed and answered once', async () => {
    const connection = await connectedRaw();
    try {
      const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, `qos2-${randomUUID().slice(0, 8)}`, 1);
      const publish = { cmd: 'publish', topic, payload: Buffer.from('once'), qos: 2, messageId: 7, retain: false } as const;
      connection.send({ ...publish, dup: false });
      connection.send({ ...publish, dup: true });
      connection.send({ ...publish, dup: true });
      await waitUntil(() => connection.packets.some((p) => p.cmd === 'pubrec'), 'PUBREC for the QoS 2 publish');
      connection.send({ cmd: 'pubrel', messageId: 7 });
      await connection.waitForPacket('pubcomp');
      // A QoS 1 request behind it on the same connection: once its answer is back, any second
      // ClientData for the QoS 2 message would have reached the extension and been answered too.
      const marker = kpTopic(APP_VERSION, ECHO_UNAWARE, 'marker', 2);
      connection.send({ cmd: 'publish', topic: marker, payload: Buffer.from('m'), qos: 1, messageId: 8, retain: false, dup: false });
      await waitUntil(() => connection.packets.some((p) => p.cmd === 'publish' && p.topic === `${marker}/status`), 'the marker answered');
      expect(stack.echoUnaware.received.filter((data) => data.resourcePath === `/${topic.split('/')[3]}`)).toHaveLength(1);
      expect(connection.packets.filter((p) => p.cmd === 'publish' && p.topic === `${topic}/status`)).toHaveLength(1);
    } finally {
      connection.destroy();
    }
  });

  it('after PUBREL the same packet id carries a new message, relayed again', async () => {
    const connection = await connectedRaw();
    try {
      for (const round of [1, 2]) {
        const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, 'qos2-reuse', round);
        connection.send({ cmd: 'publish', topic, payload: Buffer.from(`r${round}`), qos: 2, messageId: 9, retain: false, dup: false });
        await waitUntil(() => connection.packets.filter((p) => p.cmd === 'pubrec').length >= round, `PUBREC ${round}`);
        connection.send({ cmd: 'pubrel', messageId: 9 });
        await waitUntil(() => connection.packets.some((p) => p.cmd === 'publish' && p.topic === `${topic}/status`), `answer ${round}`);
      }
    } finally {
      connection.destroy();
    }
  });
});

describe(`kaa.kpc.transports.mqtt.max-subscriptions (${MAX_SUBSCRIPTIONS} here)`, () => {
  it('past the limit a filter gets SUBACK 0x80 and the connection stays; unsubscribing frees a place', async () => {
    const client = await connectAs(stack.kpc, DEVICE);
    // An endpoint-unaware instance: these filters name no endpoint token, so nothing is identified.
    try {
      for (let i = 0; i < MAX_SUBSCRIPTIONS; i++) expect(await subackCode(client, `kp1/${APP_VERSION}/${ECHO_UNAWARE}/path-${i}/#`, 1)).toBe(1);
      expect(await subackCode(client, `kp1/${APP_VERSION}/${ECHO_UNAWARE}/path-${MAX_SUBSCRIPTIONS}/#`, 1)).toBe(0x80);
      // Subscribing again to a filter it holds is not a new one.
      expect(await subackCode(client, `kp1/${APP_VERSION}/${ECHO_UNAWARE}/path-0/#`, 0)).toBe(0);
      await client.unsubscribeAsync(`kp1/${APP_VERSION}/${ECHO_UNAWARE}/path-0/#`);
      expect(await subackCode(client, `kp1/${APP_VERSION}/${ECHO_UNAWARE}/path-${MAX_SUBSCRIPTIONS}/#`, 1)).toBe(1);
      const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, 'after-subscriptions', 1);
      expect((await new TestClient(client).request(topic, 'still here')).topic).toBe(`${topic}/status`);
    } finally {
      await client.endAsync();
    }
  });
});

/** A QoS 1 PUBLISH whose topic is exactly these bytes. */
function publishWithTopicBytes(topic: Buffer): Buffer {
  const packet = mqttPacket.generate({ cmd: 'publish', topic: 'x'.repeat(topic.length), payload: Buffer.from('p'), qos: 1, messageId: 1, retain: false, dup: false });
  const at = packet.indexOf(Buffer.from('x'.repeat(topic.length)));
  topic.copy(packet, at);
  return packet;
}

describe('malformed UTF-8 strings (MQTT-1.5.3-1, MQTT-1.5.3-2)', () => {
  const prefix = `kp1/${APP_VERSION}/${ECHO_UNAWARE}/`;
  const cases = [
    { kind: 'null-character', topic: Buffer.concat([Buffer.from(prefix), Buffer.from('bad\u0000path/1')]) },
    { kind: 'invalid-utf8', topic: Buffer.concat([Buffer.from(prefix), Buffer.from([0x62, 0xff, 0xfe, 0x61]), Buffer.from('/1')]) },
  ];
  for (const { kind, topic } of cases) {
    it(`a PUBLISH topic with ${kind === 'null-character' ? 'U+0000' : 'invalid UTF-8'} closes the connection, unacknowledged and not relayed; counted, logged once`, async () => {
      const before = await metricValue(stack.kpc, 'kpc_protocol_violations_total', { kind });
      const relayedBefore = stack.echoUnaware.received.length;
      for (let attempt = 0; attempt < 3; attempt++) {
        const connection = await connectedRaw();
        try {
          connection.write(publishWithTopicBytes(topic));
          await connection.waitForClose(5_000, `KPC to close a connection whose PUBLISH topic has ${kind}`);
          expect(connection.packets.map((p) => p.cmd)).toEqual(['connack']);
        } finally {
          connection.destroy();
        }
      }
      await waitUntil(
        async () => (await metricValue(stack.kpc, 'kpc_protocol_violations_total', { kind })) === before + 3,
        `kpc_protocol_violations_total{kind="${kind}"} + 3`,
      );
      expect(stack.echoUnaware.received.length).toBe(relayedBefore);
      expect(logLines('connection.protocol-violation').filter((line) => line.includes(`"source":"${kind}"`))).toHaveLength(1);
    });
  }

  it('a topic with a genuine U+FFFD is well-formed and relayed', async () => {
    const client = await connectAs(stack.kpc, DEVICE);
    try {
      const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, 'replacement\uFFFDchar', 1);
      expect((await new TestClient(client).request(topic, 'ok')).topic).toBe(`${topic}/status`);
    } finally {
      await client.endAsync();
    }
  });
});

describe('outbound packets never exceed max-packet-bytes (64 KiB here)', () => {
  it('a reply that would not fit is not sent: the request gets /error 413 instead, and it is counted', async () => {
    const client = await connectAs(stack.kpc, DEVICE);
    const respond = stack.echoUnaware.respond;
    stack.echoUnaware.respond = () => ({ statusCode: 200, payload: Buffer.alloc(MAX_PACKET_BYTES, 0x41) });
    try {
      const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, 'big-reply', 1);
      const answer = await new TestClient(client).request(topic, 'small request');
      expect(answer.topic).toBe(`${topic}/error`);
      expect(JSON.parse(answer.payload.toString())).toEqual({ statusCode: 413, reasonPhrase: 'Response larger than the maximum MQTT packet size' });
      expect(await metricValue(stack.kpc, 'kpc_extension_data_total', { outcome: 'too-large' })).toBe(1);
      // A reply that fits, just under the limit, still goes out as it is.
      stack.echoUnaware.respond = () => ({ statusCode: 200, payload: Buffer.alloc(MAX_PACKET_BYTES - 200, 0x42) });
      const fits = kpTopic(APP_VERSION, ECHO_UNAWARE, 'fitting-reply', 2);
      expect((await new TestClient(client).request(fits, 'small request')).payload.length).toBe(MAX_PACKET_BYTES - 200);
    } finally {
      stack.echoUnaware.respond = respond;
      await client.endAsync();
    }
  });
});

describe('a credential provider answering 200 without a credentialId', () => {
  it('is a provider fault: CONNACK 3 and an error log line naming the provider', async () => {
    const provider = 'cm-without-ids';
    const subscription = stack.nc.subscribe(subjects.usernamePasswordRequest(provider), {
      callback: (_error, msg) => {
        const asked = codecs.usernamePasswordRequest.decode(msg.data);
        msg.respond(codecs.usernamePasswordResponse.encode({
          correlationId: asked.correlationId, timestamp: Date.now(), timeout: 0, statusCode: 200, reasonPhrase: 'OK', clientId: 'some-client', credentialId: null,
        }));
      },
    });
    await stack.nc.flush();
    try {
      const kpc = await stack.startKpc({ config: { kaa: { kpc: { authentication: { 'service-instance-name': provider } } } } });
      expect(await tcpConnackCode(kpc.mqttPort, { username: 'anyone', password: 'anything' })).toBe(3);
      const line = await kpc.waitForLog('"event":"ecap.provider-fault"');
      expect(JSON.parse(line)).toMatchObject({ level: 'error', provider });
      expect(line).toContain(`credential provider '${provider}' answered 200 without a credentialId`);
    } finally {
      subscription.unsubscribe();
    }
  });
});

describe('junk on KPC\'s NATS subjects', () => {
  it('every undecodable message is counted; the log gets one line per subscription per interval', async () => {
    const replicaSubject = subjects.replicaExtensionData(stack.kpc.replicaId);
    const junk = 400;
    for (let i = 0; i < junk; i++) {
      stack.nc.publish(replicaSubject, Buffer.from(`junk ${i}`));
      stack.nc.publish(`kaa.v1.events.attacker-${i}.client.credential.revoked`, Buffer.from(`junk ${i}`));
    }
    await stack.nc.flush();
    await waitUntil(
      async () =>
        (await metricValue(stack.kpc, 'kpc_nats_undecodable_total', { subject: subjects.credentialRevoked })) === junk &&
        (await metricValue(stack.kpc, 'kpc_nats_undecodable_total', { subject: replicaSubject })) === junk,
      'every junk message counted',
    );
    expect(await metricValue(stack.kpc, 'kpc_extension_data_total', { outcome: 'undecodable' })).toBe(junk);
    const lines = logLines('nats.undecodable');
    expect(lines.filter((line) => line.includes(`"source":"${replicaSubject}"`))).toHaveLength(1);
    expect(lines.filter((line) => line.includes(`"source":"${subjects.credentialRevoked}"`))).toHaveLength(1);
  });
});

describe('server.host', () => {
  it('binds the management server to that address only', async () => {
    const httpPort = await getFreePort();
    const kpc = await startKpc({ natsUrls: [stack.nats.url], config: { server: { port: httpPort, host: '127.0.0.2' } }, expectHealthy: false });
    try {
      await waitUntil(async () => (await fetch(`http://127.0.0.2:${httpPort}/health`).catch(() => undefined))?.status === 200, '/health on 127.0.0.2', {
        timeoutMs: 15_000,
        intervalMs: 100,
      });
      await expect(fetch(`http://127.0.0.1:${httpPort}/health`)).rejects.toThrow();
    } finally {
      await kpc.stop();
    }
  });
});
