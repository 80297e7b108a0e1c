// The MQTT listeners' front door, against the built KPC with raw sockets: PROXY protocol v1 and v2
// headers (HAProxy "The PROXY protocol") on TCP, TLS and WebSocket listeners, the client address
// they name in the session inspection API, refused headers; and the connection-rate limit, which
// refuses the excess of a burst before any 16/ECAP request is made.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionDetails } from '../../src/actors/registry/session-inspection.js';
import { createTestPki, type TestPki } from '../support/certificates.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { getFreePort } from '../support/nats-server.js';
import { connectPacket, RawMqttConnection } from '../support/raw-mqtt.js';
import { mqttTransportConfig, tlsClientOptions, tlsListener, wsListener } from '../support/transports.js';
import { waitUntil } from '../support/waiting.js';
import { DEVICE, type Stack, startStack } from '../support/stack.js';
import { metricValue } from '../support/kpc-probes.js';
import { uniqueId } from '../support/mqtt.js';

const ADMIN_TOKEN = 'front-door-admin';
const RATE = 5;

let pki: TestPki;
let stack: Stack;
/** TCP, TLS and WebSocket listeners, all expecting a PROXY header. */
let proxied: KpcHandle;
let tlsPort: number;
let wsPort: number;
/** Plain TCP with max-connection-rate. */
let limited: KpcHandle;

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function proxyV1(address: string, port: number): Buffer {
  return Buffer.from(`PROXY TCP4 ${address} 10.0.0.1 ${port} 1883\r\n`);
}

/** v2 PROXY (or LOCAL) over TCP/IPv4 with `address:port` as the source. */
function proxyV2(address: string, port: number, command: 'PROXY' | 'LOCAL' = 'PROXY'): Buffer {
  const block = Buffer.alloc(12);
  Buffer.from(address.split('.').map(Number)).copy(block, 0);
  Buffer.from([10, 0, 0, 1]).copy(block, 4);
  block.writeUInt16BE(port, 8);
  block.writeUInt16BE(8883, 10);
  return Buffer.concat([SIGNATURE, Buffer.from([command === 'PROXY' ? 0x21 : 0x20, 0x11, 0x00, 12]), block]);
}

/** A TCP socket to `port` that has written `header`; resolves once connected. */
function socketWithHeader(port: number, header: Buffer): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
    socket.write(header);
  });
}

async function admin(kpc: KpcHandle, path: string): Promise<Response> {
  return fetch(`${kpc.httpUrl}${path}`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
}

async function inspectedAddress(kpc: KpcHandle, mqttClientId: string): Promise<string | null> {
  const response = await admin(kpc, `/sessions/${encodeURIComponent(mqttClientId)}`);
  expect(response.status, `GET /sessions/${mqttClientId}`).toBe(200);
  return ((await response.json()) as SessionDetails & { remoteAddress: string | null }).remoteAddress;
}

/** Sends CONNECT as DEVICE and resolves with the CONNACK code. */
async function connackOver(connection: RawMqttConnection, clientId: string): Promise<number> {
  connection.send(connectPacket({ clientId, username: DEVICE.username, password: DEVICE.password }));
  return (await connection.waitForPacket('connack')).returnCode ?? -1;
}

/** CONNECT over `connection` is accepted and /sessions shows the client at `address`; closes it. */
async function expectSessionFrom(connection: RawMqttConnection, address: string | RegExp): Promise<void> {
  const clientId = uniqueId('pp');
  try {
    expect(await connackOver(connection, clientId)).toBe(0);
    expect(await inspectedAddress(proxied, clientId)).toMatch(address);
  } finally {
    connection.destroy();
  }
}

beforeAll(async () => {
  pki = await createTestPki();
  stack = await startStack();
  [tlsPort, wsPort] = [await getFreePort(), await getFreePort()];
  proxied = await stack.startKpc({
    config: {
      server: { 'admin-token': ADMIN_TOKEN },
      ...mqttTransportConfig({
        'connect-timeout': '1s',
        tcp: { 'proxy-protocol': true },
        tls: { ...tlsListener(pki, tlsPort, 'none'), 'proxy-protocol': true },
        ws: { ...wsListener(wsPort), 'proxy-protocol': true },
      }),
    },
  });
  limited = await stack.startKpc({ config: mqttTransportConfig({ 'max-connection-rate': RATE }) });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  pki?.cleanup();
});

describe('PROXY protocol', () => {
  it('v1 on TCP: the session shows the address the header names', async () => {
    await expectSessionFrom(new RawMqttConnection(await socketWithHeader(proxied.mqttPort, proxyV1('192.0.2.10', 40001))), /^192\.0\.2\.10$/);
  });

  it('v2 on TCP, header and CONNECT in one write: the session shows the address the header names', async () => {
    const clientId = uniqueId('pp2');
    const connect = mqttPacket.generate(connectPacket({ clientId, username: DEVICE.username, password: DEVICE.password }));
    const connection = new RawMqttConnection(await socketWithHeader(proxied.mqttPort, Buffer.concat([proxyV2('198.51.100.7', 40002), connect])));
    try {
      expect((await connection.waitForPacket('connack')).returnCode).toBe(0);
      expect(await inspectedAddress(proxied, clientId)).toBe('198.51.100.7');
    } finally {
      connection.destroy();
    }
  });

  it('v2 LOCAL (the balancer itself): the socket address is kept', async () => {
    await expectSessionFrom(new RawMqttConnection(await socketWithHeader(proxied.mqttPort, proxyV2('203.0.113.1', 1, 'LOCAL'))), /127\.0\.0\.1$/);
  });

  it('v2 on TLS: the header precedes the handshake', async () => {
    const raw = await socketWithHeader(tlsPort, proxyV2('198.51.100.8', 40003));
    const tlsSocket = tlsConnect({ socket: raw, ...tlsClientOptions(pki) });
    await new Promise((resolve, reject) => tlsSocket.once('secureConnect', resolve).once('error', reject));
    await expectSessionFrom(new RawMqttConnection(tlsSocket), /^198\.51\.100\.8$/);
  });

  it('v1 on WebSocket: the header precedes the HTTP upgrade', async () => {
    const clientId = uniqueId('ppws');
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/ws`, 'mqtt', {
      createConnection: () => {
        const socket = netConnect({ host: '127.0.0.1', port: wsPort });
        socket.write(proxyV1('192.0.2.44', 40004));
        return socket;
      },
    });
    try {
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      const connack = new Promise<Packet>((resolve) => parser.once('packet', resolve));
      ws.on('message', (data: Buffer) => parser.parse(data));
      ws.send(mqttPacket.generate(connectPacket({ clientId, username: DEVICE.username, password: DEVICE.password })));
      expect(await connack).toMatchObject({ cmd: 'connack', returnCode: 0 });
      expect(await inspectedAddress(proxied, clientId)).toBe('192.0.2.44');
    } finally {
      ws.terminate();
    }
  });

  it.each([
    ['garbage instead of a header', Buffer.from('HELLO THERE\r\n')],
    ['an MQTT CONNECT without a header (a client that bypassed the balancer)', mqttPacket.generate(connectPacket())],
    ['a v1 header with a malformed address', Buffer.from('PROXY TCP4 999.1.1.1 10.0.0.1 1 2\r\n')],
  ])('closes the connection on %s, counted', async (_what, bytes) => {
    const before = await metricValue(proxied, 'kpc_proxy_protocol_rejected_total', { listener: 'mqtt-tcp' });
    const connection = new RawMqttConnection(await socketWithHeader(proxied.mqttPort, bytes));
    connection.send(connectPacket());
    await connection.waitForClose();
    expect(connection.packets).toEqual([]);
    await waitUntil(
      async () => (await metricValue(proxied, 'kpc_proxy_protocol_rejected_total', { listener: 'mqtt-tcp' })) === before + 1,
      'the rejection counted',
    );
  });

  it('WebSocket: an HTTP upgrade that stalls after the header is closed after connect-timeout', async () => {
    const connection = new RawMqttConnection(await socketWithHeader(wsPort, Buffer.concat([proxyV1('192.0.2.45', 40005), Buffer.from('GET /ws HTTP/1.1\r\nHost: kpc\r\n')])));
    await connection.waitForClose(5_000, 'the stalled upgrade closed after the 1 s connect-timeout');
  });

  it('closes a connection that sends no complete header within connect-timeout, counted', async () => {
    const before = await metricValue(proxied, 'kpc_proxy_protocol_rejected_total', { listener: 'mqtt-tcp' });
    const connection = new RawMqttConnection(await socketWithHeader(proxied.mqttPort, Buffer.from('PROXY TCP4 ')));
    await connection.waitForClose(5_000, 'the connection closed after the 1 s connect-timeout');
    expect(connection.packets).toEqual([]);
    expect(await metricValue(proxied, 'kpc_proxy_protocol_rejected_total', { listener: 'mqtt-tcp' })).toBe(before + 1);
  });
});

describe('max-connection-rate', () => {
  it(`a burst of 20 new connections at ${RATE}/s: the excess is closed at once, before any credential check`, async () => {
    const attempts = 20;
    const users = Array.from({ length: attempts }, (_, i) => ({ username: uniqueId(`storm${i}`), password: `pw-${i}` }));
    for (const user of users) stack.credentials.users[user.username] = { password: user.password };
    const ecapRequestsBefore = stack.provider.requestLog.filter((entry) => entry.type === 'username-password').length;
    const refusedBefore = await metricValue(limited, 'kpc_connections_rate_limited_total', { listener: 'mqtt-tcp' });

    const startedAt = performance.now();
    const outcomes = await Promise.all(
      users.map(async (user) => {
        const connection = new RawMqttConnection(await socketWithHeader(limited.mqttPort, Buffer.alloc(0)));
        connection.send(connectPacket({ username: user.username, password: user.password }));
        await Promise.race([connection.waitForPacket('connack').catch(() => undefined), connection.whenClosed]);
        const connack = connection.packets.find((p) => p.cmd === 'connack');
        connection.destroy();
        return connack === undefined ? 'closed' : `connack ${connack.returnCode}`;
      }),
    );
    const elapsedSeconds = (performance.now() - startedAt) / 1000;

    const accepted = outcomes.filter((outcome) => outcome === 'connack 0').length;
    const refused = outcomes.filter((outcome) => outcome === 'closed').length;
    expect(accepted + refused, `outcomes: ${outcomes.join(', ')}`).toBe(attempts);
    // The bucket starts full (one second's worth) and refills at RATE/s while the burst lasts: every
    // admission happened between startedAt and now, so no more than that refill can have come in.
    expect(accepted).toBeGreaterThanOrEqual(RATE);
    expect(accepted).toBeLessThanOrEqual(RATE + Math.floor(elapsedSeconds * RATE));
    // Exactly the refused ones are counted, and only the admitted ones reached the credential service.
    expect(await metricValue(limited, 'kpc_connections_rate_limited_total', { listener: 'mqtt-tcp' })).toBe(refusedBefore + refused);
    const ecapRequests = stack.provider.requestLog.filter((entry) => entry.type === 'username-password').length - ecapRequestsBefore;
    expect(ecapRequests).toBe(accepted);
  });
});
