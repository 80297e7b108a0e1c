// Clients that misbehave on purpose: oversized packets, silent sockets, too many
// connections, authentication floods, clients that never read, and a check that no secret a
// client presents ever reaches KPC's log. Raw sockets are used wherever mqtt.js would be polite.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { createTestPki, type TestPki } from '../support/certificates.js';
import { waitUntil } from '../support/waiting.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { getFreePort } from '../support/nats-server.js';
import { rawConnack, rawTcp, tcpConnackCode, type RawMqttConnection } from '../support/raw-mqtt.js';
import { mqttTlsOptions, mqttTransportConfig, tlsListener, tlsUrl } from '../support/transports.js';
import { APP_VERSION, DEVICE, ECHO, ECHO_UNAWARE, type Stack, startStack } from '../support/stack.js';
import { connackCode, connectAs, connectClient, kpTopic, subackCode, TestClient, uniqueId } from '../support/mqtt.js';
import { metricValue } from '../support/kpc-probes.js';

const MAX_PACKET_BYTES = 64 * 1024;

let pki: TestPki;
let stack: Stack;
let tlsPort: number;

beforeAll(async () => {
  pki = await createTestPki();
  tlsPort = await getFreePort();
  stack = await startStack({
    kpcConfig: mqttTransportConfig({
      'max-packet-bytes': '64KiB',
      'connect-timeout': '1s',
      'max-outbound-bytes': '1MiB',
      tls: tlsListener(pki, tlsPort, 'optional'),
    }),
  });
  stack.credentials.certificates![pki.clients.device.ecapKey] = { credentialId: 'cred-hostile-device' };
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  pki?.cleanup();
});

const defaultRespond = () => stack.echoUnaware.respond;
let restoreRespond: (() => void) | undefined;
afterEach(() => {
  restoreRespond?.();
  restoreRespond = undefined;
});

/** KPC still runs, /health says 200, and a fresh good client completes a request. */
async function expectServiceHealthy(kpc: KpcHandle = stack.kpc): Promise<void> {
  expect(kpc.process.exitCode, 'KPC exit code').toBeNull();
  expect(kpc.process.signalCode, 'KPC killed by signal').toBeNull();
  const health = await fetch(`${kpc.httpUrl}/health`);
  expect(health.status, await health.clone().text()).toBe(200);
  const client = await connectAs(kpc, DEVICE);
  try {
    const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, 'health-check', 1);
    const reply = await new TestClient(client).request(topic, 'still alive?');
    expect(reply.topic).toBe(`${topic}/status`);
  } finally {
    await client.endAsync();
  }
}

/** MQTT Remaining Length encoding (1–4 bytes). */
function remainingLength(length: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) byte |= 0x80;
    bytes.push(byte);
  } while (length > 0);
  return Buffer.from(bytes);
}

/** The first bytes of a QoS 0 PUBLISH whose payload is `payloadBytes` long: fixed header + topic. */
function publishHead(topic: string, payloadBytes: number): Buffer {
  const topicBytes = Buffer.from(topic);
  const variable = Buffer.concat([Buffer.from([topicBytes.length >> 8, topicBytes.length & 0xff]), topicBytes]);
  return Buffer.concat([Buffer.from([0x30]), remainingLength(variable.length + payloadBytes), variable]);
}

describe('max-packet-bytes (64 KiB here)', () => {
  it('a PUBLISH just under the limit is relayed (the limit is not simply "anything big")', async () => {
    const client = await connectAs(stack.kpc, DEVICE);
    try {
      const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, 'near-limit', 1);
      const payload = Buffer.alloc(MAX_PACKET_BYTES - 1024, 0x41);
      const reply = await new TestClient(client).request(topic, payload);
      expect(reply.topic).toBe(`${topic}/status`);
      expect(reply.payload.length).toBe(payload.length);
    } finally {
      await client.endAsync();
    }
  });

  it('a 1 MiB PUBLISH is cut as soon as its header is read: the socket closes before the body is sent', async () => {
    const connection = await rawTcp(stack.kpc.mqttPort);
    try {
      expect(await rawConnack(connection, { username: DEVICE.username, password: DEVICE.password })).toBe(0);
      const head = publishHead(kpTopic(APP_VERSION, ECHO_UNAWARE, 'huge', 1), 1024 * 1024);
      // Header, topic and the first 4 KiB of a 1 MiB body; the remaining ~1020 KiB are never written.
      connection.write(Buffer.concat([head, Buffer.alloc(4096, 0x42)]));
      await connection.waitForClose(5_000, 'KPC to close a connection whose PUBLISH announces 1 MiB (limit 64 KiB) before its body arrived');
      expect(connection.packets.map((p) => p.cmd)).toEqual(['connack']); // no PUBACK, no response
    } finally {
      connection.destroy();
    }
    await expectServiceHealthy();
  });

  it('the largest Remaining Length MQTT can encode (256 MiB), sent before CONNECT, is cut too', async () => {
    const connection = await rawTcp(stack.kpc.mqttPort);
    try {
      connection.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x04]));
      await connection.waitForClose(5_000, 'KPC to close a connection announcing a 256 MiB CONNECT');
      expect(connection.packets).toEqual([]);
    } finally {
      connection.destroy();
    }
    await expectServiceHealthy();
  });
});

describe('connect-timeout (1 s here)', () => {
  it('a TCP connection that never sends anything is closed', async () => {
    const silent = await rawTcp(stack.kpc.mqttPort);
    try {
      await silent.waitForClose(10_000, 'KPC to close a silent TCP socket (connect-timeout 1 s)');
      expect(silent.packets).toEqual([]);
    } finally {
      silent.destroy();
    }
  });

  it('a connection that sent half a CONNECT and stalls is closed', async () => {
    const stalled = await rawTcp(stack.kpc.mqttPort);
    try {
      const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: uniqueId('half') });
      stalled.write(connect.subarray(0, Math.floor(connect.length / 2)));
      await stalled.waitForClose(10_000, 'KPC to close a socket stalled mid-CONNECT (connect-timeout 1 s)');
      expect(stalled.packets).toEqual([]);
    } finally {
      stalled.destroy();
    }
  });
});

describe('max-connections', () => {
  it('past the limit → CONNACK 3; a freed slot is usable again', async () => {
    const limited = await stack.startKpc({ config: mqttTransportConfig({ 'max-connections': 2 }) });
    const first = await connectAs(limited, DEVICE);
    const second = await connectAs(limited, DEVICE);
    try {
      expect(await connackCode(limited.mqttUrl, { clientId: uniqueId('third'), ...DEVICE })).toBe(3);
      await first.endAsync();
      await waitUntil(async () => (await connackCode(limited.mqttUrl, { clientId: uniqueId('again'), ...DEVICE })) === 0, 'a connection slot to be free again after one client left', { timeoutMs: 5_000, intervalMs: 50 });
    } finally {
      first.end(true);
      await second.endAsync();
    }
    await expectServiceHealthy(limited);
    await limited.stop();
  });

  it('connections that die right after a good CONNECT (a second CONNECT or garbage in the same write) leave no session behind', async () => {
    const limited = await stack.startKpc({ config: mqttTransportConfig({ 'max-connections': 2 }) });
    try {
      const connect = () =>
        mqttPacket.generate({
          cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: uniqueId('dies'),
          username: DEVICE.username, password: Buffer.from(DEVICE.password),
        });
      // More of them than max-connections: if any stayed registered, good clients would get CONNACK 3.
      for (const tail of [connect(), Buffer.from([0xf0, 0x00]), connect(), Buffer.from([0x00, 0x00])]) {
        const dying = await rawTcp(limited.mqttPort);
        try {
          dying.write(Buffer.concat([connect(), tail]));
          await dying.waitForClose(5_000, 'KPC to close a connection that broke the protocol right after CONNECT');
        } finally {
          dying.destroy();
        }
      }
      await waitUntil(async () => (await metricValue(limited, 'kpc_connections_open')) === 0, 'kpc_connections_open to be 0 once every such connection is closed', { timeoutMs: 5_000, intervalMs: 50 });
      expect(await connackCode(limited.mqttUrl, { clientId: uniqueId('after-dying'), ...DEVICE })).toBe(0);
    } finally {
      await limited.stop();
    }
  });
});

describe('authentication flood', () => {
  /** `count` concurrent raw CONNECTs with `credentials`: each one's CONNACK code, or what happened instead. */
  function badConnects(count: number, credentials: { username: string; password: string }): Promise<Array<number | string>> {
    return Promise.all(
      Array.from({ length: count }, () =>
        tcpConnackCode(stack.kpc.mqttPort, credentials, 15_000).then(
          (code) => code,
          (error: Error) => `no CONNACK: ${error.message}`,
        ),
      ),
    );
  }

  function tally(codes: Array<number | string>): string {
    const counts = new Map<number | string, number>();
    for (const code of codes) counts.set(code, (counts.get(code) ?? 0) + 1);
    return JSON.stringify([...counts]);
  }

  const ecapAsked = (username: string) =>
    stack.provider.requestLog.filter((entry) => entry.type === 'username-password' && entry.username === username).length;

  it('500 concurrent CONNECTs with a refused password: each gets 4 or 3, 5 good clients are served, ECAP is not asked again (negative cache)', async () => {
    const flood = { username: uniqueId('flood-user'), password: 'not-the-password' };
    // One refusal first: from now on these exact credentials are refused from memory.
    expect(await tcpConnackCode(stack.kpc.mqttPort, flood)).toBe(4);
    expect(ecapAsked(flood.username)).toBe(1);

    const good = Array.from({ length: 5 }, async (_, i) => {
      const client = await connectClient(stack.kpc.mqttUrl, { clientId: uniqueId(`good-${i}`), ...DEVICE });
      try {
        const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, 'flood', i);
        const reply = await new TestClient(client).request(topic, `good ${i}`, { qos: 1, timeoutMs: 15_000 });
        return reply.topic === `${topic}/status` ? 'served' : `answered on ${reply.topic}`;
      } finally {
        await client.endAsync();
      }
    });
    const [badCodes, goodOutcomes] = await Promise.all([badConnects(500, flood), Promise.all(good)]);

    expect(goodOutcomes).toEqual(Array(5).fill('served'));
    expect(badCodes.filter((code) => code !== 4 && code !== 3), `bad CONNECT outcomes: ${tally(badCodes)}`).toEqual([]);
    expect(ecapAsked(flood.username), `ECAP requests after 1 + 500 identical bad CONNECTs (${tally(badCodes)})`).toBeLessThanOrEqual(2);
    await expectServiceHealthy();
  });

  it('a burst of 500 identical bad CONNECTs with nothing cached yet asks ECAP only a few times', async () => {
    const flood = { username: uniqueId('burst-user'), password: 'not-the-password-either' };
    const badCodes = await badConnects(500, flood);
    expect(badCodes.filter((code) => code !== 4 && code !== 3), `bad CONNECT outcomes: ${tally(badCodes)}`).toEqual([]);
    // Identical credentials whose validation is already in flight should wait for that answer
    // rather than ask again; without that, every CONNECT that arrives before the first refusal
    // is back (hundreds, in a burst) costs the provider one request.
    expect(ecapAsked(flood.username), `ECAP requests for 500 identical bad CONNECTs (${tally(badCodes)})`).toBeLessThanOrEqual(5);
    await expectServiceHealthy();
  });
});

describe('slow consumer (max-outbound-bytes 1 MiB here)', () => {
  it('a client that publishes requests but never reads is disconnected; another client keeps getting 60 KiB answers', async () => {
    const previous = defaultRespond();
    restoreRespond = () => (stack.echoUnaware.respond = previous);
    // Answers just under max-packet-bytes (64 KiB here): KPC never sends a larger packet.
    const big = Buffer.alloc(60 * 1024, 0x5a);
    stack.echoUnaware.respond = (data) => (data.requestId === null ? null : { statusCode: 200, payload: big });

    const reader = await connectAs(stack.kpc, DEVICE);
    const readerInbox = new TestClient(reader);
    const slow: RawMqttConnection = await rawTcp(stack.kpc.mqttPort);
    let sent = 0;
    try {
      expect(await rawConnack(slow, { username: DEVICE.username, password: DEVICE.password })).toBe(0);
      slow.socket.pause(); // never reads again: KPC's answers pile up in the kernel, then in KPC
      const MAX_REQUESTS = 800; // 47 MiB of answers: far past any socket buffers plus max-outbound-bytes (1 MiB)
      let readerRequests = 0;
      while (!slow.closed && sent < MAX_REQUESTS) {
        for (let i = 0; i < 16 && !slow.closed; i++) {
          slow.send({ cmd: 'publish', topic: kpTopic(APP_VERSION, ECHO_UNAWARE, 'slow', ++sent), payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
        }
        // The reading client is served meanwhile (and this paces the loop).
        const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, 'reader', ++readerRequests);
        const reply = await readerInbox.request(topic, 'r');
        expect(reply.topic).toBe(`${topic}/status`);
        expect(reply.payload.length).toBe(big.length);
      }
      expect(slow.closed, `slow client still connected after ${sent} requests (${sent * 60} KiB of answers)`).toBe(true);
      await stack.kpc.waitForLog('connection.slow-consumer', 5_000);
      const metrics = await (await fetch(`${stack.kpc.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/^kpc_slow_consumers_total [1-9]/m);
      const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, 'reader', 'after', 1);
      expect((await readerInbox.request(topic, 'r')).payload.length).toBe(big.length);
    } finally {
      slow.destroy();
      await reader.endAsync();
    }
  });
});

describe('no secrets in logs', () => {
  it('passwords, tokens and private keys never appear in any KPC log line', async () => {
    const password = `pw-${uniqueId('Sup3rS3cret')}`;
    const wrongPassword = `wrong-${uniqueId('Sup3rS3cret')}`;
    const username = uniqueId('secret-user');
    stack.credentials.users[username] = { password };
    const { token } = stack.newToken('secret-token');
    const unknownToken = uniqueId('unknown-secret-token');
    const blockedToken = uniqueId('blocked-secret-token');
    stack.credentials.tokens[blockedToken] = { endpointId: uniqueId('ep-blocked'), blocked: true };

    // Good and bad passwords over TCP; a token that works, one unknown, one blocked.
    expect(await connackCode(stack.kpc.mqttUrl, { clientId: uniqueId('s'), username, password: wrongPassword })).toBe(4);
    const client = await connectClient(stack.kpc.mqttUrl, { clientId: uniqueId('s'), username, password });
    try {
      const inbox = new TestClient(client);
      expect((await inbox.request(kpTopic(APP_VERSION, ECHO, token, 'data', 1), 'x')).topic).toMatch(/\/status$/);
      expect((await inbox.request(kpTopic(APP_VERSION, ECHO, unknownToken, 'data', 2), 'x')).topic).toMatch(/\/error$/);
      expect((await inbox.request(kpTopic(APP_VERSION, ECHO, blockedToken, 'data', 3), 'x')).topic).toMatch(/\/error$/);
      // The token in topics KPC refuses for other reasons, and in subscriptions.
      expect((await inbox.request(kpTopic(APP_VERSION, 'not-allowed', token, 'data', 4), 'x')).topic).toMatch(/\/error$/);
      await client.subscribeAsync(kpTopic(APP_VERSION, ECHO, token, '#'), { qos: 1 });
      expect(await subackCode(client, `elsewhere/${token}/#`, 1)).toBe(0x80);
    } finally {
      await client.endAsync();
    }

    // TLS with a client certificate and the same password.
    const tlsClient = await connectClient(tlsUrl(tlsPort), { clientId: uniqueId('s-tls'), ...mqttTlsOptions(pki, pki.clients.device), username, password });
    await tlsClient.endAsync();

    // Raw: a token in an invalid PUBLISH topic (a wildcard) and an invalid subscription filter.
    const raw = await rawTcp(stack.kpc.mqttPort);
    try {
      expect(await rawConnack(raw, { username, password })).toBe(0);
      raw.send({ cmd: 'publish', topic: `kp1/${APP_VERSION}/${ECHO}/${token}/+/5`, payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `kp1/${APP_VERSION}/${ECHO}/${token}/#/x`, qos: 1 }] });
      raw.send({ cmd: 'pingreq' });
      // Either answer is fine here (aedes may close on the wildcard PUBLISH); only the logs matter.
      await Promise.any([raw.waitForClose(5_000), raw.waitForPacket('pingresp', 5_000)]);
    } finally {
      raw.destroy();
    }

    // A marker logged after everything above: once it is in, every earlier line is too.
    const marker = uniqueId('logmarker');
    const last = await connectAs(stack.kpc, DEVICE);
    try {
      await new TestClient(last).request(kpTopic(`no-such-version-${marker}`, ECHO, 'x', 1), 'x');
    } finally {
      await last.endAsync();
    }
    await stack.kpc.waitForLog(marker, 5_000);

    const logs = stack.kpc.logs;
    expect(logs.length).toBeGreaterThan(10);
    const leaks = (secret: string) => logs.filter((line) => line.includes(secret));
    expect(leaks(password), 'log lines with the password').toEqual([]);
    expect(leaks(wrongPassword), 'log lines with the refused password').toEqual([]);
    expect(leaks(DEVICE.password), 'log lines with the test device password').toEqual([]);
    for (const secret of [token, unknownToken, blockedToken]) expect(leaks(secret), `log lines with token ${secret}`).toEqual([]);
    expect(leaks('PRIVATE KEY'), 'log lines with a private key').toEqual([]);
    expect(leaks(pki.server.key.split('\n')[1]!), 'log lines with the server key material').toEqual([]);
  });
});
