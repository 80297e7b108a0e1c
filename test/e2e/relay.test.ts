// 4/ESP and 9/ELCE: client → extension (ClientData) and extension → client (replies and pushes),
// isolation between clients, SUBSCRIBE grants, 9/ELCE connectivity events, and ExtensionData
// that cannot be delivered.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClientData } from '../../src/infra/nats/codecs.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import { waitUntil } from '../support/waiting.js';
import { APP_VERSION, DEVICE, ECHO, ECHO_UNAWARE, GATEWAY, type Stack, startStack } from '../support/stack.js';
import { connectAs, errorBody, kpTopic, subackCode, TestClient, uniqueId, withClients } from '../support/mqtt.js';
import { metricValue } from '../support/kpc-probes.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

let stack: Stack;
let defaultRespond: Stack['echo']['respond'];

beforeAll(async () => {
  stack = await startStack();
  defaultRespond = stack.echo.respond;
});
afterAll(async () => {
  await stack?.stop();
});
afterEach(() => {
  stack.echo.respond = defaultRespond;
  stack.echoUnaware.respond = defaultRespond;
});

/** The ClientData an extension received with this exact payload. */
function receivedWith(extension: Stack['echo'], payload: Buffer | string): Promise<ClientData> {
  const bytes = Buffer.from(payload);
  return waitUntil(() =>
    extension.received.find((data) => data.payload.equals(bytes)), `ClientData with payload ${JSON.stringify(bytes.toString())}`);
}

/** Identifies `token` in the client's session with one round trip. */
async function identify(inbox: TestClient, token: string): Promise<void> {
  const topic = kpTopic(APP_VERSION, ECHO, token, 'identify', 0);
  const reply = await inbox.request(topic, uniqueId('identify'));
  expect(reply.topic).toBe(`${topic}/status`);
}

describe('request and reply', () => {
  it.each([0, 1] as const)('QoS %i: reply on <topic>/status at the request QoS, payload bytes unchanged', async (qos) => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const payload = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from(uniqueId('binary'))]);
      const topic = kpTopic(APP_VERSION, ECHO, 'token-1', 'echo', 40 + qos);
      const reply = await inbox.request(topic, payload, { qos });
      expect(reply.topic).toBe(`${topic}/status`);
      expect(reply.qos).toBe(qos);
      expect(reply.payload.equals(payload)).toBe(true);
    });
  });

  it('the ClientData the extension receives', async () => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const payload = uniqueId('fields');
      await inbox.request('kp1/demo_application_v1/echo/token-1/hello/7', payload);
      const data = await receivedWith(stack.echo, payload);
      expect(data).toMatchObject({
        appVersionName: APP_VERSION,
        endpointId: 'endpoint-1',
        resourcePath: '/hello',
        requestId: 7,
        timeout: 0,
        configName: null,
      });
      expect(data.correlationId).toMatch(UUID);
      expect(data.payload.toString()).toBe(payload);
    });
  });

  it('requestId 0 and a multi-level resource path', async () => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const payload = uniqueId('zero');
      const topic = kpTopic(APP_VERSION, ECHO, 'token-1', 'a', 'b', 'c', 0);
      expect((await inbox.request(topic, payload)).topic).toBe(`${topic}/status`);
      expect(await receivedWith(stack.echo, payload)).toMatchObject({ resourcePath: '/a/b/c', requestId: 0 });
    });
  });

  it('each request gets a fresh correlationId', async () => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const payloads = [uniqueId('corr'), uniqueId('corr')];
      for (const [i, payload] of payloads.entries()) await inbox.request(kpTopic(APP_VERSION, ECHO, 'token-1', 'corr', i), payload);
      const [first, second] = await Promise.all(payloads.map((payload) => receivedWith(stack.echo, payload)));
      expect(first!.correlationId).not.toBe(second!.correlationId);
    });
  });

  it('an extension error (statusCode ≥ 400) → <topic>/error with the JSON error', async () => {
    stack.echo.respond = () => ({ statusCode: 409, reasonPhrase: 'Conflict in the extension', payload: Buffer.from('ignored') });
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const topic = kpTopic(APP_VERSION, ECHO, 'token-1', 'fail', 50);
      const reply = await inbox.request(topic, 'x');
      expect(reply.topic).toBe(`${topic}/error`);
      expect(errorBody(reply)).toStrictEqual({ statusCode: 409, reasonPhrase: 'Conflict in the extension' });
    });
  });

  it.each([
    ['an empty payload', Buffer.alloc(0)],
    ['no payload (null)', null],
  ])('status 200 with %s → <topic>/status with an empty payload', async (_case, payload) => {
    stack.echo.respond = () => ({ statusCode: 200, payload });
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const topic = kpTopic(APP_VERSION, ECHO, 'token-1', 'empty', 51);
      const reply = await inbox.request(topic, 'something');
      expect(reply.topic).toBe(`${topic}/status`);
      expect(reply.payload.length).toBe(0);
    });
  });

  it('an empty request payload reaches the extension empty and comes back empty', async () => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const { token, endpointId } = stack.newToken();
      const topic = kpTopic(APP_VERSION, ECHO, token, 'empty-request', 52);
      const reply = await inbox.request(topic, Buffer.alloc(0));
      expect(reply.topic).toBe(`${topic}/status`);
      expect(reply.payload.length).toBe(0);
      const data = stack.echo.received.find((d) => d.endpointId === endpointId);
      expect(data?.payload.length).toBe(0);
    });
  });

  it('endpoint-unaware instance: endpointId null, resourcePath after the instance name, no token request', async () => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const payload = uniqueId('unaware');
      const level = uniqueId('notatoken');
      const topic = kpTopic(APP_VERSION, ECHO_UNAWARE, level, 'path', 53);
      const reply = await inbox.request(topic, payload);
      expect(reply.topic).toBe(`${topic}/status`);
      expect(reply.payload.toString()).toBe(payload);
      expect(await receivedWith(stack.echoUnaware, payload)).toMatchObject({
        appVersionName: APP_VERSION,
        endpointId: null,
        resourcePath: `/${level}/path`,
        requestId: 53,
      });
      expect(stack.provider.tokenRequestCounts.has(level)).toBe(false);
    });
  });

  it('endpoint-unaware instance without a request id: resourcePath is the whole rest', async () => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const payload = uniqueId('unaware-noid');
      await inbox.client.publishAsync(kpTopic(APP_VERSION, ECHO_UNAWARE, 'single'), payload, { qos: 1 });
      expect(await receivedWith(stack.echoUnaware, payload)).toMatchObject({ endpointId: null, resourcePath: '/single', requestId: null });
    });
  });
});

describe('pushes', () => {
  it.each([
    ['with a request id', 77, '/cmd/77/status'],
    ['without a request id', null, '/cmd/status'],
  ])('%s: delivered at QoS 1 on kp1/{av}/{ext}/{token}{resourcePath}[/{id}]/status without a subscription', async (_case, requestId, suffix) => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const { token, endpointId } = stack.newToken();
      await identify(inbox, token);
      const payload = Buffer.from(uniqueId('push'));
      await stack.echo.push({ endpointId, appVersionName: APP_VERSION, resourcePath: '/cmd', payload, requestId });
      const push = await inbox.waitFor(`kp1/${APP_VERSION}/${ECHO}/${token}${suffix}`);
      expect(push.qos).toBe(1);
      expect(push.payload.equals(payload)).toBe(true);
    });
  });

  it('a push with statusCode ≥ 400 goes to …/error with the JSON error', async () => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const { token, endpointId } = stack.newToken();
      await identify(inbox, token);
      await stack.echo.push({ endpointId, appVersionName: APP_VERSION, resourcePath: '/alarm', payload: null, statusCode: 500, reasonPhrase: 'Extension broke' });
      const push = await inbox.waitFor(`kp1/${APP_VERSION}/${ECHO}/${token}/alarm/error`);
      expect(errorBody(push)).toStrictEqual({ statusCode: 500, reasonPhrase: 'Extension broke' });
    });
  });

  it('a push arriving on the replica subject is delivered too', async () => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const { token, endpointId } = stack.newToken();
      await identify(inbox, token);
      await stack.echo.push(
        { endpointId, appVersionName: APP_VERSION, resourcePath: '/direct', payload: Buffer.from('via replica') },
        subjects.replicaExtensionData(stack.kpc.replicaId),
      );
      const push = await inbox.waitFor(`kp1/${APP_VERSION}/${ECHO}/${token}/direct/status`);
      expect(push.payload.toString()).toBe('via replica');
    });
  });
});

describe('isolation between clients', () => {
  it("A and B each get only their own replies and pushes; a kp1/# subscriber sees nobody else's traffic", async () => {
    await withClients(stack.kpc, [DEVICE, GATEWAY, DEVICE], async (a, b, watcher) => {
      const tokenA = stack.newToken('a');
      const tokenB = stack.newToken('b');
      const tokenW = stack.newToken('w');
      expect(await subackCode(watcher.client, 'kp1/#', 1)).toBe(1);

      for (const [inbox, { token, endpointId }] of [[a, tokenA], [b, tokenB]] as const) {
        for (const qos of [0, 1] as const) {
          const topic = kpTopic(APP_VERSION, ECHO, token, 'mine', qos);
          expect((await inbox.request(topic, token, { qos })).topic).toBe(`${topic}/status`);
        }
        await stack.echo.push({ endpointId, appVersionName: APP_VERSION, resourcePath: '/pushed', payload: Buffer.from(token) });
        await inbox.waitFor(`kp1/${APP_VERSION}/${ECHO}/${token}/pushed/status`);
      }

      // A last round trip each: anything misrouted to a client earlier would have reached it before this reply.
      await identify(a, tokenA.token);
      await identify(b, tokenB.token);
      await identify(watcher, tokenW.token);

      const tokenOf = (topic: string) => topic.split('/')[3];
      expect(a.topics().map(tokenOf)).toEqual(a.topics().map(() => tokenA.token));
      expect(b.topics().map(tokenOf)).toEqual(b.topics().map(() => tokenB.token));
      expect(watcher.topics()).toEqual([`${kpTopic(APP_VERSION, ECHO, tokenW.token, 'identify', 0)}/status`]);
      for (const inbox of [a, b]) {
        for (const message of inbox.messages) expect(message.payload.toString()).not.toContain(inbox === a ? tokenB.token : tokenA.token);
      }
    });
  });
});

describe('SUBSCRIBE grants', () => {
  it.each(['#', 'foo/bar', '$SYS/#', '+/demo_application_v1/#', 'kp2/#'])('%s → SUBACK 0x80', async (filter) => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      expect(await subackCode(inbox.client, filter, 1)).toBe(0x80);
      expect(inbox.client.connected).toBe(true);
    });
  });

  it.each([
    [0, 0],
    [1, 1],
    [2, 1],
  ] as const)('kp1/# at QoS %i → granted %i', async (requested, granted) => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      expect(await subackCode(inbox.client, 'kp1/#', requested)).toBe(granted);
    });
  });
});

describe('9/ELCE connectivity events', () => {
  it('the first valid token announces connected once; the disconnect announces all the endpoints once', async () => {
    const since = stack.elce.mark();
    const connectedSubject = subjects.endpointConnected('kpc');
    const disconnectedSubject = subjects.endpointDisconnected('kpc');
    const mentions = (subject: string, endpointId: string) => stack.elce.find((event) => event.subject === subject && endpointId in event.endpoints, since);
    const first = stack.newToken('elce');
    const second = stack.newToken('elce');
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      for (let i = 0; i < 3; i++) await identify(inbox, first.token);
      await identify(inbox, second.token);
      await stack.elce.waitFor((event) => event.subject === connectedSubject && second.endpointId in event.endpoints, 'connected for the second endpoint', { since });

      for (const { endpointId } of [first, second]) {
        const connected = mentions(connectedSubject, endpointId);
        expect(connected).toHaveLength(1);
        expect(connected[0]!.endpoints).toEqual({ [endpointId]: APP_VERSION });
        expect(connected[0]!.originatorReplicaId).toBe(stack.kpc.replicaId);
        expect(connected[0]!.correlationId).toMatch(UUID);
      }
      expect(mentions(disconnectedSubject, first.endpointId)).toHaveLength(0);
    });

    const disconnected = await stack.elce.waitFor((event) => event.subject === disconnectedSubject && first.endpointId in event.endpoints, 'disconnected for the client', {
      since,
    });
    expect(disconnected.endpoints).toEqual({ [first.endpointId]: APP_VERSION, [second.endpointId]: APP_VERSION });
    expect(disconnected.originatorReplicaId).toBe(stack.kpc.replicaId);

    // A later event from KPC: anything announced for the first client is in by now.
    const marker = stack.newToken('marker');
    await withClients(stack.kpc, [DEVICE], (inbox) => identify(inbox, marker.token));
    await stack.elce.waitFor((event) => event.subject === connectedSubject && marker.endpointId in event.endpoints, 'connected for the marker endpoint', { since });
    for (const { endpointId } of [first, second]) {
      expect(mentions(connectedSubject, endpointId)).toHaveLength(1);
      expect(mentions(disconnectedSubject, endpointId)).toHaveLength(1);
    }
  });

  it('a rejected token announces nothing', async () => {
    const since = stack.elce.mark();
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const topic = kpTopic(APP_VERSION, ECHO, 'blocked-token', 'x', 1);
      expect((await inbox.request(topic, 'x')).topic).toBe(`${topic}/error`);
    });
    // The marker's disconnected event comes after anything the rejected client's session could have caused.
    const marker = stack.newToken('marker');
    await withClients(stack.kpc, [DEVICE], (inbox) => identify(inbox, marker.token));
    await stack.elce.waitFor((event) => event.subject === subjects.endpointDisconnected('kpc') && marker.endpointId in event.endpoints, 'disconnected for the marker endpoint', {
      since,
    });
    expect(stack.elce.find((event) => 'endpoint-blocked' in event.endpoints, since)).toEqual([]);
    expect(stack.elce.find((event) => Object.keys(event.endpoints).length === 0, since)).toEqual([]);
  });
});

describe('ExtensionData that cannot be delivered', () => {
  const count = (outcome: string) => metricValue(stack.kpc, 'kpc_extension_data_total', { outcome });

  it('undecodable ExtensionData on both subjects is dropped and counted; KPC keeps working', async () => {
    const before = await count('undecodable');
    const garbage = Buffer.from('definitely not Avro \u0000\u00ff\u00fe');
    stack.nc.publish(subjects.instanceExtensionData('kpc'), garbage);
    stack.nc.publish(subjects.replicaExtensionData(stack.kpc.replicaId), garbage);
    stack.nc.publish(subjects.replicaExtensionData(stack.kpc.replicaId), Buffer.alloc(0));
    await stack.nc.flush();
    await waitUntil(async () => (await count('undecodable')) >= before + 3, 'three undecodable ExtensionData counted');
    expect(await count('undecodable')).toBe(before + 3);

    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const topic = kpTopic(APP_VERSION, ECHO, 'token-1', 'after-garbage', 60);
      expect((await inbox.request(topic, 'still fine')).payload.toString()).toBe('still fine');
    });
  });

  it('ExtensionData for an endpoint nobody holds is dropped and counted as endpoint-offline', async () => {
    await withClients(stack.kpc, [DEVICE], async (inbox) => {
      const { token } = stack.newToken();
      await identify(inbox, token);
      const before = await count('endpoint-offline');
      await stack.echo.push({ endpointId: uniqueId('nobody'), appVersionName: APP_VERSION, resourcePath: '/lost', payload: Buffer.from('lost') });
      await waitUntil(async () => (await count('endpoint-offline')) >= before + 1, 'the offline push counted');
      expect(await count('endpoint-offline')).toBe(before + 1);

      const topic = kpTopic(APP_VERSION, ECHO, token, 'after-offline', 61);
      expect((await inbox.request(topic, 'fine')).topic).toBe(`${topic}/status`);
      expect(inbox.topics().some((topic) => topic.includes('/lost'))).toBe(false);
    });
  });

  it("a ClientData nobody serves comes back as NATS's no-responders status: counted, not logged as undecodable", async () => {
    const kpc = await stack.startKpc({
      config: {
        kaa: { applications: { demo_application: { versions: { [APP_VERSION]: { 'allowed-extension-instances': ['unserved'] } } } } },
      },
    });
    const client = await connectAs(kpc, DEVICE);
    try {
      await client.publishAsync(kpTopic(APP_VERSION, 'unserved', 'data', 1), 'anyone?', { qos: 1 });
      await waitUntil(async () =>
        (await metricValue(kpc, 'kpc_extension_data_total', { outcome: 'no-responders' })) >= 1, 'the no-responders status counted');
      expect(await metricValue(kpc, 'kpc_extension_data_total', { outcome: 'undecodable' })).toBe(0);
      expect(kpc.logs.filter((line) => line.includes('undecodable ExtensionData'))).toEqual([]);
    } finally {
      await client.endAsync();
    }
  });
});
