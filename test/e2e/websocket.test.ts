// MQTT over WebSocket: the `mqtt` subprotocol on `ws.path`, the same authentication as
// plain TCP, and all three transports of one process serving clients at the same time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { WebSocket } from 'ws';
import type { TestPki } from '../support/certificates.js';
import { connectPacket } from '../support/raw-mqtt.js';
import { mqttTlsOptions, tlsUrl, wsUrl } from '../support/transports.js';
import { APP_VERSION, DEVICE, ECHO, ECHO_UNAWARE, GATEWAY, type Stack, startStack } from '../support/stack.js';
import { connackCode, connectClient, kpTopic, TestClient, uniqueId } from '../support/mqtt.js';

let pki: TestPki;
let stack: Stack;
let wsPort: number;
let tlsPort: number;

beforeAll(async () => {
  stack = await startStack({ transports: { credentialId: 'cred-ws-test-device' } });
  ({ pki, wsPort, tlsPort } = stack.transports!);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function expectEcho(inbox: TestClient, label: string): Promise<void> {
  const { token } = stack.newToken(label);
  const topic = kpTopic(APP_VERSION, ECHO, token, label, 1);
  const payload = uniqueId(label);
  const reply = await inbox.request(topic, payload);
  expect({ topic: reply.topic, payload: reply.payload.toString() }).toEqual({ topic: `${topic}/status`, payload });
}

/** A raw WebSocket that offers `protocols`; resolves when open, rejects with the HTTP status otherwise. */
function openWebSocket(url: string, protocols: string[] = ['mqtt'], timeoutMs = 5_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`WebSocket ${url}: neither open nor refused within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      ws.terminate();
      reject(Object.assign(new Error(`WebSocket ${url}: HTTP ${response.statusCode}`), { statusCode: response.statusCode }));
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

describe('MQTT over WebSocket', () => {
  it('mqtt.js on ws://…/ws: CONNACK 0 and request/reply', async () => {
    const client = await connectClient(wsUrl(wsPort), { clientId: uniqueId('ws'), ...DEVICE });
    try {
      await expectEcho(new TestClient(client), 'ws');
    } finally {
      await client.endAsync();
    }
  });

  it('a raw WebSocket offering `mqtt` gets `mqtt` back and speaks MQTT in binary frames', async () => {
    const ws = await openWebSocket(wsUrl(wsPort), ['mqtt']);
    try {
      expect(ws.protocol).toBe('mqtt');
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      const connack = new Promise<Packet>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no CONNACK over the raw WebSocket within 5 s')), 5_000);
        parser.on('packet', (packet: Packet) => {
          clearTimeout(timer);
          resolve(packet);
        });
      });
      ws.on('message', (data: Buffer) => parser.parse(data));
      ws.send(mqttPacket.generate(connectPacket({ username: DEVICE.username, password: DEVICE.password })));
      expect(await connack).toMatchObject({ cmd: 'connack', returnCode: 0 });
    } finally {
      ws.terminate();
    }
  });

  it('anonymous → CONNACK 5 (allow-anonymous defaults to false)', async () => {
    expect(await connackCode(wsUrl(wsPort), { clientId: uniqueId('ws-anon') })).toBe(5);
  });

  it('wrong password → CONNACK 4', async () => {
    expect(await connackCode(wsUrl(wsPort), { clientId: uniqueId('ws-bad'), username: DEVICE.username, password: uniqueId('wrong') })).toBe(4);
  });

  it('a path other than ws.path gets no MQTT: the upgrade is refused', async () => {
    for (const path of ['/nope', '/ws/extra', '/']) {
      const from = stack.provider.requestLog.length;
      const refused = await openWebSocket(wsUrl(wsPort, path)).then(
        (ws) => {
          ws.terminate();
          return 'opened';
        },
        (error: Error & { statusCode?: number }) => error.statusCode ?? error.message,
      );
      expect(refused, `upgrade on ${path}`).toBe(400);
      await expect(connackCode(wsUrl(wsPort, path), { clientId: uniqueId('ws-path'), ...DEVICE }), `mqtt.js on ${path}`).rejects.toThrow();
      expect(stack.provider.requestLog.slice(from), `ECAP requests caused by ${path}`).toEqual([]);
    }
  });
});

describe('all transports of one process at once', () => {
  it('tcp, tls and ws clients connect and are served concurrently', async () => {
    const [tcp, tls, ws] = await Promise.all([
      connectClient(stack.kpc.mqttUrl, { clientId: uniqueId('all-tcp'), ...DEVICE }),
      connectClient(tlsUrl(tlsPort), { clientId: uniqueId('all-tls'), ...mqttTlsOptions(pki, pki.clients.device) }),
      connectClient(wsUrl(wsPort), { clientId: uniqueId('all-ws'), ...GATEWAY }),
    ]);
    try {
      const clients = { tcp, tls, ws };
      const inboxes = Object.fromEntries(Object.entries(clients).map(([name, client]) => [name, new TestClient(client)]));
      // One request each, all in flight together; each answer must come back on its own connection.
      const replies = await Promise.all(
        Object.entries(inboxes).map(async ([name, inbox]) => {
          const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, 'transport', name, 7);
          const reply = await inbox.request(topic, `via ${name}`);
          return [name, reply.topic === `${topic}/status` ? reply.payload.toString() : `error on ${reply.topic}: ${reply.payload}`];
        }),
      );
      expect(Object.fromEntries(replies)).toEqual({ tcp: 'via tcp', tls: 'via tls', ws: 'via ws' });
      for (const [name, inbox] of Object.entries(inboxes)) {
        expect(inbox.topics().filter((topic) => topic.includes('/transport/')), `${name} got only its own answer`).toHaveLength(1);
      }
    } finally {
      await Promise.all([tcp.endAsync(), tls.endAsync(), ws.endAsync()]);
    }
    const health = (await (await fetch(`${stack.kpc.httpUrl}/health`)).json()) as { components: Record<string, string> };
    expect(health.components).toMatchObject({ 'mqtt-tcp': 'UP', 'mqtt-tls': 'UP', 'mqtt-ws': 'UP' });
  });
});
