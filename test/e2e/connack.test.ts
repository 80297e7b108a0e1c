// Every row of the CONNACK table (README), against the built KPC with a real nats-server, the dev
// ECAP provider and real MQTT clients. MQTT 3.1 must work as well as 3.1.1.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Msg } from 'nats';
import { codecs } from '../../src/infra/nats/codecs.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { waitUntil } from '../support/waiting.js';
import { connackCode, connectAs, connectWithConnack, kpTopic, TestClient, uniqueId } from '../support/mqtt.js';
import { APP_VERSION, DEVICE, ECHO, type Stack, startStack } from '../support/stack.js';
import { metricValue } from '../support/kpc-probes.js';

const VALID_CODES = [0, 1, 2, 3, 4, 5];

/** CONNACK return code of a fresh client (unique id) presenting `credentials`. */
function codeFor(kpc: KpcHandle, credentials: { username?: string; password?: string } = {}, extra: Record<string, unknown> = {}) {
  return connackCode(kpc.mqttUrl, { clientId: uniqueId('connack'), ...credentials, ...extra });
}

describe('CONNACK mapping', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });
  afterEach(() => {
    stack.provider.mode = 'normal';
  });

  it('ECAP 200 → 0 accepted, session present 0', async () => {
    const { client, connack } = await connectWithConnack(stack.kpc.mqttUrl, { clientId: uniqueId('ok'), ...DEVICE });
    try {
      expect(connack.returnCode).toBe(0);
      expect(connack.sessionPresent).toBe(false);
    } finally {
      await client.endAsync();
    }
    expect(stack.provider.requestLog.some((entry) => entry.type === 'username-password' && entry.username === DEVICE.username)).toBe(true);
  });

  it('session present stays 0 for a returning clean-session=false client (KPC keeps no MQTT sessions)', async () => {
    const clientId = uniqueId('persistent');
    const first = await connectWithConnack(stack.kpc.mqttUrl, { clientId, clean: false, ...DEVICE });
    await first.client.subscribeAsync(kpTopic(APP_VERSION, ECHO, '+', '#'), { qos: 1 });
    await first.client.endAsync();

    const second = await connectWithConnack(stack.kpc.mqttUrl, { clientId, clean: false, ...DEVICE });
    try {
      expect(second.connack.returnCode).toBe(0);
      expect(second.connack.sessionPresent).toBe(false);
    } finally {
      await second.client.endAsync();
    }
  });

  it('ECAP 401 (wrong password) → 4 bad user name or password', async () => {
    expect(await codeFor(stack.kpc, { username: DEVICE.username, password: 'wrong' })).toBe(4);
  });

  it('ECAP 401 (unknown user) → 4 bad user name or password', async () => {
    expect(await codeFor(stack.kpc, { username: 'nobody', password: 'whatever' })).toBe(4);
  });

  it('a username without a password is still validated: → 4', async () => {
    expect(await codeFor(stack.kpc, { username: DEVICE.username })).toBe(4);
  });

  it('no credentials, anonymous not allowed (default) → 5 not authorized', async () => {
    const before = stack.provider.requestLog.length;
    expect(await codeFor(stack.kpc)).toBe(5);
    expect(stack.provider.requestLog.length).toBe(before); // nothing to ask ECAP about
  });

  it('ECAP timeout (provider silent, authentication timeout 1 s) → 3 server unavailable', async () => {
    stack.provider.mode = 'silent';
    expect(await codeFor(stack.kpc, DEVICE)).toBe(3);
  });

  it('ECAP 503 → 3 server unavailable', async () => {
    stack.provider.mode = 'unavailable';
    expect(await codeFor(stack.kpc, DEVICE)).toBe(3);
  });

  it('an ECAP reply that does not decode → 3 server unavailable', async () => {
    stack.provider.mode = 'garbage';
    expect(await codeFor(stack.kpc, DEVICE)).toBe(3);
  });

  it('MQTT 3.1 (MQIsdp) clients connect and get answers', async () => {
    const client = await connectAs(stack.kpc, DEVICE, { protocolVersion: 3, protocolId: 'MQIsdp' });
    try {
      const inbox = new TestClient(client);
      const topic = kpTopic(APP_VERSION, ECHO, 'token-1', 'mqtt31', 1);
      const reply = await inbox.request(topic, 'over 3.1');
      expect(reply.topic).toBe(`${topic}/status`);
      expect(reply.payload.toString()).toBe('over 3.1');
    } finally {
      await client.endAsync();
    }
  });

  it('MQTT 3.1 clients are refused with 3.1 return codes too', async () => {
    expect(await codeFor(stack.kpc, { username: DEVICE.username, password: 'wrong' }, { protocolVersion: 3, protocolId: 'MQIsdp' })).toBe(4);
    expect(await codeFor(stack.kpc, {}, { protocolVersion: 3, protocolId: 'MQIsdp' })).toBe(5);
  });

  describe('ECAP status codes from a scripted provider', () => {
    // A provider instance of our own that answers with the status the username names
    // (`status-403` → 403), so that every row of the table can be produced.
    const SCRIPTED = 'scripted-cm';
    let kpc: KpcHandle;

    beforeAll(async () => {
      stack.nc.subscribe(subjects.usernamePasswordRequest(SCRIPTED), {
        callback: (error, msg: Msg) => {
          if (error) return;
          const requestData = codecs.usernamePasswordRequest.decode(msg.data);
          const statusCode = Number(/^status-(\d+)$/.exec(requestData.username ?? '')?.[1] ?? 401);
          msg.respond(
            codecs.usernamePasswordResponse.encode({
              correlationId: requestData.correlationId,
              timestamp: Date.now(),
              timeout: 0,
              statusCode,
              reasonPhrase: `scripted ${statusCode}`,
              clientId: statusCode === 200 ? 'scripted-client' : null,
              credentialId: statusCode === 200 ? 'scripted-credential' : null,
            }),
          );
        },
      });
      await stack.nc.flush();
      kpc = await stack.startKpc({ config: { kaa: { kpc: { authentication: { 'service-instance-name': SCRIPTED } } } } });
    });

    it.each([
      [200, 0],
      [400, 4],
      [401, 4],
      [403, 4],
      [404, 4],
      [500, 3],
      [503, 3],
    ])('ECAP %i → CONNACK %i', async (status, expected) => {
      expect(await codeFor(kpc, { username: `status-${status}`, password: 'pw' })).toBe(expected);
    });
  });

  describe('with allow-anonymous: true', () => {
    let kpc: KpcHandle;

    beforeAll(async () => {
      kpc = await stack.startKpc({ config: { kaa: { kpc: { authentication: { 'allow-anonymous': true } } } } });
    });

    it('no credentials → 0 accepted, and the anonymous client can make requests', async () => {
      const client = await connectAs(kpc, null);
      try {
        const inbox = new TestClient(client);
        const topic = kpTopic(APP_VERSION, ECHO, 'token-2', 'anonymous', 3);
        const reply = await inbox.request(topic, 'hi');
        expect(reply.topic).toBe(`${topic}/status`);
      } finally {
        await client.endAsync();
      }
    });

    it('presented credentials must still validate: wrong password → 4', async () => {
      expect(await codeFor(kpc, { username: DEVICE.username, password: 'wrong' })).toBe(4);
    });
  });

  describe('with max-connections: 1', () => {
    let kpc: KpcHandle;

    beforeAll(async () => {
      kpc = await stack.startKpc({ config: { kaa: { kpc: { transports: { mqtt: { 'max-connections': 1 } } } } } });
    });

    it('the second concurrent client gets 3 server unavailable; once the first leaves, a new one is accepted', async () => {
      const first = await connectAs(kpc, DEVICE);
      try {
        expect(await codeFor(kpc, DEVICE)).toBe(3);
        expect(await codeFor(kpc)).toBe(3); // checked before credentials
      } finally {
        await first.endAsync();
      }
      await waitUntil(async () => (await metricValue(kpc, 'kpc_connections_open')) === 0, 'kpc_connections_open to drop to 0');
      expect(await codeFor(kpc, DEVICE)).toBe(0);
    });
  });
});

describe('CONNACK while NATS is down', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    // KPC cannot drain NATS while it is gone; the dev helpers can once it is back.
    await stack?.kpc.stop('SIGKILL');
    await stack?.nats.restart();
    await stack?.stop();
  });

  it('a new CONNECT gets 3 server unavailable, never a code outside 0–5', async () => {
    expect(await codeFor(stack.kpc, DEVICE)).toBe(0); // the same CONNECT works while NATS is up

    await stack.nats.stop();
    await waitUntil(async () => (await fetch(`${stack.kpc.httpUrl}/health`)).status === 500, 'KPC to report NATS down on /health');

    const codes = [
      await codeFor(stack.kpc, DEVICE),
      await codeFor(stack.kpc, { username: DEVICE.username, password: 'wrong' }),
      await codeFor(stack.kpc),
      await codeFor(stack.kpc, DEVICE, { protocolVersion: 3, protocolId: 'MQIsdp' }),
    ];
    for (const code of codes) expect(VALID_CODES).toContain(code);
    expect(codes).toEqual([3, 3, 3, 3]);
  });
});
