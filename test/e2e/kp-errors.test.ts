// KPC's own 1/KP errors and endpoint identification (16/ECAP tokens): error topics and payloads,
// acknowledgement of bad publishes, silence without a request id, the negative cache, one token
// request per session, and in-order delivery of messages held during identification.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { waitUntil } from '../support/waiting.js';
import { APP_VERSION, DEVICE, ECHO, type Stack, startStack } from '../support/stack.js';
import { errorBody, kpTopic, TestClient, uniqueId, withClients } from '../support/mqtt.js';
import { metricValue } from '../support/kpc-probes.js';

const INVALID = { statusCode: 400, reasonPhrase: 'Invalid 1/KP resource path' };
const UNAVAILABLE = { statusCode: 503, reasonPhrase: 'Service unavailable' };

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

/** Runs `body` with a connected client and its inbox; always disconnects. */
function withClient(body: (inbox: TestClient, client: MqttClient) => Promise<void>): Promise<void> {
  return withClients(stack.kpc, [DEVICE], (inbox) => body(inbox, inbox.client));
}

/**
 * Publishes at QoS 1 (the publish resolves on PUBACK) and resolves with the response; checks that
 * the response is an error on `<topic>/error` with exactly `expected` as its JSON payload.
 */
async function expectError(inbox: TestClient, topic: string, expected: { statusCode: number; reasonPhrase: string }, timeoutMs?: number) {
  const response = await inbox.request(topic, 'bad', { qos: 1, timeoutMs });
  expect(response.topic).toBe(`${topic}/error`);
  expect(errorBody(response)).toStrictEqual(expected);
  expect(Object.keys(errorBody(response) as object)).toEqual(['statusCode', 'reasonPhrase']);
  return response;
}

/** A request that must succeed: the connection still works. */
async function expectWorks(inbox: TestClient, token = 'token-1') {
  const topic = kpTopic(APP_VERSION, ECHO, token, 'still-works', Math.floor(Math.random() * 1_000_000));
  const response = await inbox.request(topic, 'ok');
  expect(response.topic).toBe(`${topic}/status`);
  expect(response.payload.toString()).toBe('ok');
}

describe("KPC's own 1/KP errors", () => {
  it.each([
    ['not under kp1/', 'kp2/demo_application_v1/echo/token-1/hello/11'],
    ['not under kp1/ (other root)', 'foo/bar/12'],
    ['too short: no extension instance', 'kp1/demo_application_v1/13'],
    ['too short: nothing after kp1/', 'kp1/14'],
    ['endpoint-aware path with a token but no resource path', 'kp1/demo_application_v1/echo/token-1/15'],
    ['empty topic level', 'kp1/demo_application_v1/echo/token-1//hello/16'],
  ])('%s → 400 on <topic>/error', async (_case, topic) => {
    await withClient(async (inbox) => {
      await expectError(inbox, topic, INVALID);
      await expectWorks(inbox);
    });
  });

  it("unknown application version → 404 Unknown application version 'x'", async () => {
    await withClient(async (inbox) => {
      await expectError(inbox, kpTopic('x', ECHO, 'token-1', 'hello', 21), { statusCode: 404, reasonPhrase: "Unknown application version 'x'" });
      await expectWorks(inbox);
    });
  });

  it('extension instance not allowed for the version → 403', async () => {
    await withClient(async (inbox) => {
      await expectError(inbox, kpTopic(APP_VERSION, 'other-ext', 'token-1', 'hello', 22), {
        statusCode: 403,
        reasonPhrase: `Extension instance 'other-ext' is not allowed for '${APP_VERSION}'`,
      });
      await expectWorks(inbox);
    });
  });

  it("token unknown to ECAP → 404 with ECAP's reason", async () => {
    await withClient(async (inbox) => {
      await expectError(inbox, kpTopic(APP_VERSION, ECHO, uniqueId('unknown'), 'hello', 23), { statusCode: 404, reasonPhrase: 'Unknown token' });
      await expectWorks(inbox);
    });
  });

  it("token blocked by ECAP → 403 with ECAP's reason", async () => {
    await withClient(async (inbox) => {
      await expectError(inbox, kpTopic(APP_VERSION, ECHO, 'blocked-token', 'hello', 24), { statusCode: 403, reasonPhrase: 'Token blocked' });
      await expectWorks(inbox);
    });
  });

  it('ECAP answering 503 → 503 Service unavailable; the next message asks ECAP again', async () => {
    await withClient(async (inbox) => {
      const { token } = stack.newToken();
      stack.provider.mode = 'unavailable';
      await expectError(inbox, kpTopic(APP_VERSION, ECHO, token, 'hello', 25), UNAVAILABLE);
      stack.provider.mode = 'normal';
      await expectWorks(inbox, token);
      expect(stack.provider.tokenRequestCounts.get(token)).toBe(2);
    });
  });

  it('ECAP silent → 503 Service unavailable after the authentication timeout (1 s)', async () => {
    await withClient(async (inbox) => {
      const { token } = stack.newToken();
      stack.provider.mode = 'silent';
      await expectError(inbox, kpTopic(APP_VERSION, ECHO, token, 'hello', 26), UNAVAILABLE, 5_000);
      stack.provider.mode = 'normal';
      await expectWorks(inbox, token);
    });
  });

  it('QoS 0 bad publishes get their error at QoS 0; QoS 1 ones at QoS 1', async () => {
    await withClient(async (inbox) => {
      const topic0 = kpTopic('x', ECHO, 'token-1', 'hello', 27);
      const topic1 = kpTopic('x', ECHO, 'token-1', 'hello', 28);
      const error0 = await inbox.request(topic0, 'bad', { qos: 0 });
      const error1 = await inbox.request(topic1, 'bad', { qos: 1 });
      expect([error0.topic, error0.qos]).toEqual([`${topic0}/error`, 0]);
      expect([error1.topic, error1.qos]).toEqual([`${topic1}/error`, 1]);
    });
  });

  it('publishes without a request id are acknowledged, counted, and answered with nothing', async () => {
    await withClient(async (inbox, client) => {
      const unknownToken = uniqueId('unknown');
      const bad = [
        'kp2/demo_application_v1/echo/token-1/hello',
        'kp1/demo_application_v1',
        kpTopic('x', ECHO, 'token-1', 'hello'),
        kpTopic(APP_VERSION, 'other-ext', 'token-1', 'hello'),
        kpTopic(APP_VERSION, ECHO, unknownToken, 'hello'),
      ];
      const before = {
        400: await metricValue(stack.kpc, 'kpc_kp_errors_total', { status: '400' }),
        404: await metricValue(stack.kpc, 'kpc_kp_errors_total', { status: '404' }),
        403: await metricValue(stack.kpc, 'kpc_kp_errors_total', { status: '403' }),
      };
      for (const topic of bad) await client.publishAsync(topic, 'bad', { qos: 1 }); // resolves on PUBACK

      // The same unknown token again, with an id: its error comes after the id-less one's would have.
      const withId = kpTopic(APP_VERSION, ECHO, unknownToken, 'hello', 31);
      await expectError(inbox, withId, { statusCode: 404, reasonPhrase: 'Unknown token' });
      const good = kpTopic(APP_VERSION, ECHO, 'token-1', 'hello', 32);
      await inbox.request(good, 'ok');

      expect(inbox.topics()).toEqual([`${withId}/error`, `${good}/status`]);
      expect(client.connected).toBe(true);
      expect(await metricValue(stack.kpc, 'kpc_kp_errors_total', { status: '400' })).toBe(before[400] + 2);
      expect(await metricValue(stack.kpc, 'kpc_kp_errors_total', { status: '404' })).toBe(before[404] + 3);
      expect(await metricValue(stack.kpc, 'kpc_kp_errors_total', { status: '403' })).toBe(before[403] + 1);
    });
  });
});

describe('endpoint identification', () => {
  it.each([
    ['unknown', () => uniqueId('unknown'), { statusCode: 404, reasonPhrase: 'Unknown token' }],
    [
      'blocked',
      () => {
        const token = uniqueId('blocked');
        stack.credentials.tokens[token] = { endpointId: uniqueId('ep'), blocked: true };
        return token;
      },
      { statusCode: 403, reasonPhrase: 'Token blocked' },
    ],
  ])('a rejected (%s) token is asked about once per session; every later message still gets the error', async (_kind, makeToken, expected) => {
    const token = makeToken();
    await withClient(async (inbox, client) => {
      for (let id = 1; id <= 5; id++) await expectError(inbox, kpTopic(APP_VERSION, ECHO, token, 'hello', id), expected);
      expect(stack.provider.tokenRequestCounts.get(token)).toBe(1);
      expect(client.connected).toBe(true);
    });
    // A new session asks again.
    await withClient(async (inbox) => {
      await expectError(inbox, kpTopic(APP_VERSION, ECHO, token, 'hello', 6), expected);
      expect(stack.provider.tokenRequestCounts.get(token)).toBe(2);
    });
  });

  it('a valid token is requested once per session; messages sent during identification arrive in order', async () => {
    const { token, endpointId } = stack.newToken();
    const ofEndpoint = () => stack.echo.received.filter((data) => data.endpointId === endpointId);

    await withClient(async (inbox, client) => {
      // 20 QoS 1 publishes back to back, none awaited before the next is sent.
      const acks = Array.from({ length: 20 }, (_, i) => client.publishAsync(kpTopic(APP_VERSION, ECHO, token, 'seq', i), String(i), { qos: 1 }));
      await Promise.all(acks);
      await waitUntil(() => ofEndpoint().length >= 20, '20 ClientData for the new endpoint');
      expect(ofEndpoint().map((data) => data.payload.toString())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
      expect(ofEndpoint().map((data) => data.requestId)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(stack.provider.tokenRequestCounts.get(token)).toBe(1);

      for (let i = 20; i < 25; i++) await inbox.request(kpTopic(APP_VERSION, ECHO, token, 'seq', i), String(i));
      expect(stack.provider.tokenRequestCounts.get(token)).toBe(1);
    });

    await withClient(async (inbox) => {
      await inbox.request(kpTopic(APP_VERSION, ECHO, token, 'seq', 100), 'again');
      expect(stack.provider.tokenRequestCounts.get(token)).toBe(2); // identification is per client session
    });
  });
});
