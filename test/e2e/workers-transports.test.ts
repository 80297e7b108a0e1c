// kaa.kpc.workers: 2 with every transport: node:cluster shares each listener's port between the
// workers, TLS handshakes and WebSocket upgrades happen in the worker that got the connection,
// and the primary serves /cert.
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPki } from '../support/certificates.js';
import { mqttTlsOptions, tlsUrl, wsUrl } from '../support/transports.js';
import { APP_VERSION, DEVICE, ECHO_UNAWARE, GATEWAY, type Stack, startStack } from '../support/stack.js';
import { connectClient, kpTopic, TestClient, uniqueId } from '../support/mqtt.js';

const ADMIN_TOKEN = 'transports-admin';
const CLIENTS_PER_TRANSPORT = 4;

let pki: TestPki;
let stack: Stack;
let wsPort: number;
let tlsPort: number;

beforeAll(async () => {
  stack = await startStack({ transports: { credentialId: 'cred-workers-device' }, kpcConfig: { kaa: { kpc: { workers: 2 } }, server: { 'admin-token': ADMIN_TOKEN } } });
  ({ pki, wsPort, tlsPort } = stack.transports!);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('workers: 2, every transport', () => {
  it('tcp, tls and ws clients are spread over both workers and served', async () => {
    const connectors: Record<string, () => Promise<MqttClient>> = {
      tcp: () => connectClient(stack.kpc.mqttUrl, { clientId: uniqueId('w-tcp'), ...DEVICE }),
      tls: () => connectClient(tlsUrl(tlsPort), { clientId: uniqueId('w-tls'), ...mqttTlsOptions(pki, pki.clients.device) }),
      ws: () => connectClient(wsUrl(wsPort), { clientId: uniqueId('w-ws'), ...GATEWAY }),
    };
    const clients: MqttClient[] = [];
    try {
      for (const [transport, connect] of Object.entries(connectors)) {
        for (let i = 0; i < CLIENTS_PER_TRANSPORT; i++) {
          const client = await connect();
          clients.push(client);
          const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, 'via', transport, i);
          const reply = await new TestClient(client).request(topic, `${transport} ${i}`);
          expect({ topic: reply.topic, payload: reply.payload.toString() }).toEqual({ topic: `${topic}/status`, payload: `${transport} ${i}` });
        }
      }
      const response = await fetch(`${stack.kpc.httpUrl}/sessions`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
      const { live } = (await response.json()) as { live: Array<{ transport: string; replicaId: string }> };
      const workers = [`${stack.kpc.replicaId}-w1`, `${stack.kpc.replicaId}-w2`];
      for (const transport of ['tcp', 'tls', 'ws']) {
        const replicas = new Set(live.filter((session) => session.transport === transport).map((session) => session.replicaId));
        expect([transport, replicas]).toEqual([transport, new Set(workers)]);
      }
    } finally {
      await Promise.all(clients.map((client) => client.endAsync()));
    }
  });

  it('the primary serves the TLS server certificate at /cert', async () => {
    const response = await fetch(`${stack.kpc.httpUrl}/cert`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('BEGIN CERTIFICATE');
  });
});
