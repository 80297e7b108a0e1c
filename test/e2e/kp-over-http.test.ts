// 1/KP over HTTP end to end: the built KPC with its HTTP transport on, a real nats-server, the dev
// ECAP provider and the echo extension (answering per resource path as each test needs), talked to
// with fetch, node:http over keep-alive connections, curl, and raw sockets.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElceRecorder, listing } from '../support/elce-recorder.js';
import { keepAliveAgent, post, rawConnection } from '../support/http-client.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { waitUntil } from '../support/waiting.js';
import { APP_VERSION, DEVICE, ECHO, ECHO_UNAWARE, type Stack, startStack } from '../support/stack.js';
import { connectAs } from '../support/mqtt.js';
import { metricValue } from '../support/kpc-probes.js';

const run = promisify(execFile);
const ADMIN_TOKEN = 'http-admin-token';
const IDLE_TIMEOUT_MS = 3_000;
const MAX_BODY = 1024;

const http = (idle: number, extra: Record<string, unknown> = {}) => ({
  enabled: true, 'max-body-bytes': MAX_BODY, 'request-timeout': '20s', 'session-idle-timeout': `${idle}ms`, ...extra,
});

let stack: Stack;
let elce: ElceRecorder;
/** Authentication required, a path prefix, a short request timeout. */
let strict: KpcHandle;

const url = (kpc: KpcHandle, ...levels: Array<string | number>) => `${kpc.kpHttpUrl}/kp1/${levels.join('/')}`;
const postJson = (target: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(target, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', ...headers } });
const basic = (username: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` });

beforeAll(async () => {
  stack = await startStack({
    kpcConfig: {
      server: { 'admin-token': ADMIN_TOKEN },
      kaa: { kpc: { transports: { mqtt: { 'connect-timeout': '1s' }, http: http(IDLE_TIMEOUT_MS) } } },
    },
  });
  // The echo extension answers by resource path: /status/{code}/{empty|body}, /silent (never),
  // /slow/{ms} (an echo after ms), else an echo.
  stack.echo.respond = async (request) => {
    const [, kind, code, empty] = request.resourcePath.split('/');
    if (kind === 'silent') return null;
    if (kind === 'slow') await new Promise((resolve) => setTimeout(resolve, Number(code)));
    if (kind === 'status') return { statusCode: Number(code), payload: empty === 'empty' ? null : request.payload, reasonPhrase: `reason ${code}` };
    return { statusCode: 200, payload: request.payload };
  };
  elce = await ElceRecorder.start(stack.nc);
  strict = await stack.startKpc({
    config: {
      kaa: {
        kpc: {
          transports: { http: http(60_000, { authentication: 'required', 'path-prefix': '/api', 'request-timeout': '2s' }) },
        },
      },
    },
  });
}, 60_000);

afterAll(async () => {
  elce?.stop();
  await stack?.stop();
});

describe('1/KP over HTTP: answers', () => {
  it("returns the extension's answer: status, payload bytes unchanged, JSON content type", async () => {
    const { token } = stack.newToken();
    const response = await postJson(url(stack.kpc, APP_VERSION, ECHO, token, 'json'), [{ temperature: 21 }]);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toBe('[{"temperature":21}]');
  });

  it('sends a non-JSON payload as application/octet-stream, and serves endpoint-unaware instances', async () => {
    const bytes = Buffer.from([0xff, 0x00, 0x01]);
    const response = await fetch(url(stack.kpc, APP_VERSION, ECHO_UNAWARE, 'blob'), { method: 'POST', body: bytes });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes);
  });

  it('always sets ClientData.requestId: the one in the path, or its own', async () => {
    const { token } = stack.newToken();
    const before = stack.echo.received.length;
    expect((await postJson(url(stack.kpc, APP_VERSION, ECHO, token, 'with-id', 42), {})).status).toBe(200);
    expect((await postJson(url(stack.kpc, APP_VERSION, ECHO, token, 'without-id'), {})).status).toBe(200);
    const [withId, withoutId] = stack.echo.received.slice(before);
    expect(withId).toMatchObject({ resourcePath: '/with-id', requestId: 42 });
    expect(withoutId!.resourcePath).toBe('/without-id');
    expect(withoutId!.requestId).toEqual(expect.any(Number));
  });

  it.each([
    [201, 'body', 201, '{"a":1}'],
    [404, 'empty', 404, '{"statusCode":404,"reasonPhrase":"reason 404"}'],
    [409, 'body', 409, '{"a":1}'],
    [700, 'body', 502, null],
    [99, 'body', 502, null],
  ])('maps an extension status %i with %s to HTTP %i', async (code, payload, status, body) => {
    const { token } = stack.newToken();
    const response = await postJson(url(stack.kpc, APP_VERSION, ECHO, token, `status/${code}/${payload}`), { a: 1 });
    expect(response.status).toBe(status);
    const text = await response.text();
    if (body !== null) expect(text).toBe(body);
    else expect(JSON.parse(text)).toMatchObject({ statusCode: 502, reasonPhrase: expect.stringContaining(String(code)) });
  });

  it("answers KPC's own 1/KP errors as HTTP statuses with the 1/KP error JSON", async () => {
    const cases: Array<[string, number, string]> = [
      [url(stack.kpc, 'no_such_version', ECHO, 'tok', 'json'), 404, "Unknown application version 'no_such_version'"],
      [url(stack.kpc, APP_VERSION, 'not-allowed', 'tok', 'json'), 403, `Extension instance 'not-allowed' is not allowed for '${APP_VERSION}'`],
      [url(stack.kpc, APP_VERSION, ECHO, 'only-a-token'), 400, 'Invalid 1/KP resource path'],
      [url(stack.kpc, APP_VERSION, ECHO, 'blocked-token', 'json'), 403, 'Token blocked'],
    ];
    for (const [target, status, reasonPhrase] of cases) {
      const response = await postJson(target, {});
      expect(response.status, target).toBe(status);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(await response.json()).toEqual({ statusCode: status, reasonPhrase });
    }
  });

  it('answers 405 with Allow: POST to other methods, and 404 outside {prefix}/kp1/', async () => {
    const get = await fetch(url(stack.kpc, APP_VERSION, ECHO, 'tok', 'json'));
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await postJson(`${stack.kpc.kpHttpUrl}/elsewhere/kp1/x`, {})).status).toBe(404);
    expect((await postJson(`${strict.kpHttpUrl}/kp1/${APP_VERSION}/${ECHO}/tok/json`, {})).status).toBe(404); // prefix /api there
  });

  it('works with curl, as the README shows', async () => {
    const { token } = stack.newToken();
    const { stdout } = await run('curl', [
      '-s', '-X', 'POST', '--data-binary', '[{"temperature":21}]', '-H', 'Content-Type: application/json',
      '-w', '\n%{http_code} %{content_type}', url(stack.kpc, APP_VERSION, ECHO, token, 'json'),
    ]);
    expect(stdout).toBe('[{"temperature":21}]\n200 application/json');
    const gotten = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', url(stack.kpc, APP_VERSION, ECHO, token, 'json')]);
    expect(gotten.stdout).toBe('405');
  });
});

describe('1/KP over HTTP: correlation', () => {
  it('answers 500 concurrent requests over 8 keep-alive connections, each with its own reply', async () => {
    const { token } = stack.newToken();
    const target = url(stack.kpc, APP_VERSION, ECHO, token, 'json');
    expect((await postJson(target, {})).status).toBe(200); // identified: nothing waits for ECAP below
    const agent = keepAliveAgent(8);
    try {
      const replies = await Promise.all(Array.from({ length: 500 }, (_, n) => post(target, JSON.stringify({ n }), { agent })));
      replies.forEach((reply, n) => {
        expect(reply.status).toBe(200);
        expect(JSON.parse(reply.body.toString('utf8'))).toEqual({ n });
      });
    } finally {
      agent.destroy();
    }
  }, 60_000);
});

describe('1/KP over HTTP: identification and sessions', () => {
  it('identifies a token once (concurrent first requests share the ECAP request) and announces it connected', async () => {
    const { token, endpointId } = stack.newToken();
    const target = url(stack.kpc, APP_VERSION, ECHO, token, 'json');
    const first = await Promise.all(Array.from({ length: 20 }, (_, n) => postJson(target, { n })));
    expect(first.map((response) => response.status)).toEqual(Array(20).fill(200));
    for (let n = 0; n < 5; n++) expect((await postJson(target, { n })).status).toBe(200);
    expect(stack.provider.tokenRequestCounts.get(token)).toBe(1);
    expect(elce.find(listing('connected', endpointId))).toHaveLength(1);
  });

  it('announces the endpoint disconnected once the session idles out, and identifies it again afterwards', async () => {
    const { token, endpointId } = stack.newToken();
    const target = url(stack.kpc, APP_VERSION, ECHO, token, 'json');
    expect((await postJson(target, {})).status).toBe(200);
    await elce.waitFor(listing('disconnected', endpointId), 'disconnected after the idle timeout', { timeoutMs: IDLE_TIMEOUT_MS + 10_000 });
    expect((await postJson(target, {})).status).toBe(200);
    expect(stack.provider.tokenRequestCounts.get(token)).toBe(2);
  }, 30_000);

  it('ends the session when its token is revoked: disconnected, and the next request is validated again', async () => {
    const { token, endpointId } = stack.newToken();
    const target = url(stack.kpc, APP_VERSION, ECHO, token, 'json');
    expect((await postJson(target, {})).status).toBe(200);
    await stack.provider.revokeToken(endpointId, [`tokid-${token}`]);
    await elce.waitFor(listing('disconnected', endpointId), 'disconnected after revocation');
    const response = await postJson(target, {});
    expect(response.status).toBe(403);
    expect(stack.provider.tokenRequestCounts.get(token)).toBe(2);
  });

  it('drops and counts a push for an endpoint held over HTTP only (HTTP has no push)', async () => {
    const { token, endpointId } = stack.newToken();
    expect((await postJson(url(stack.kpc, APP_VERSION, ECHO, token, 'json'), {})).status).toBe(200);
    const dropped = () => metricValue(stack.kpc, 'kpc_extension_data_total', { outcome: 'push-to-http-dropped' });
    const before = await dropped();
    await stack.echo.push({ endpointId, appVersionName: APP_VERSION, resourcePath: '/command', payload: Buffer.from('{}') });
    await waitUntil(async () => (await dropped()) === before + 1, 'the push to be counted as dropped');
  });

  it('shows HTTP sessions in /sessions and /sessions/{id}', async () => {
    const { token, endpointId } = stack.newToken();
    expect((await postJson(url(stack.kpc, APP_VERSION, ECHO, token, 'json'), {})).status).toBe(200);
    const admin = { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } };
    const { live } = (await (await fetch(`${stack.kpc.httpUrl}/sessions`, admin)).json()) as { live: Array<{ mqttClientId: string; transport: string }> };
    const httpSessions = live.filter((session) => session.transport === 'http');
    expect(httpSessions.length).toBeGreaterThan(0);
    type Details = { endpoints: Array<{ endpointId: string; tokenHash: string }> };
    const details = await Promise.all(
      httpSessions.map(async (s) => (await (await fetch(`${stack.kpc.httpUrl}/sessions/${s.mqttClientId}`, admin)).json()) as Details),
    );
    const mine = details.find((d) => d.endpoints[0].endpointId === endpointId);
    expect(mine).toMatchObject({ transport: 'http', state: 'idle', endpoints: [{ state: 'active', appVersionName: APP_VERSION }] });
    expect(mine!.endpoints[0]!.tokenHash).not.toBe(token);
  });

  it('counts requests and connections by transport', async () => {
    const requests = () => metricValue(stack.kpc, 'kpc_kp_requests_total', { transport: 'http' });
    const before = await requests();
    const { token } = stack.newToken();
    const agent = keepAliveAgent(1);
    try {
      expect((await post(url(stack.kpc, APP_VERSION, ECHO, token, 'json'), '{}', { agent })).status).toBe(200);
      expect(await requests()).toBe(before + 1);
      expect(await metricValue(stack.kpc, 'kpc_transport_connections_open', { transport: 'http' })).toBeGreaterThanOrEqual(1);
      expect(await metricValue(stack.kpc, 'kpc_http_responses_total', { status: '200' })).toBeGreaterThan(0);
    } finally {
      agent.destroy();
    }
  });
});

describe('1/KP over HTTP: hostile clients', () => {
  it('answers 413 to a body announced too large, without reading it, and closes the connection', async () => {
    const { socket, closed } = await rawConnection(stack.kpc.kpHttpUrl);
    const announced = 100 * 1024 * 1024;
    socket.write(`POST /kp1/${APP_VERSION}/${ECHO}/tok/json HTTP/1.1\r\nHost: kpc\r\nContent-Length: ${announced}\r\n\r\n`);
    let written = 0;
    const writing = setInterval(() => {
      if (socket.destroyed || written >= announced) return clearInterval(writing);
      socket.write(Buffer.alloc(64 * 1024));
      written += 64 * 1024;
    }, 1);
    const received = await closed;
    clearInterval(writing);
    expect(received).toMatch(/^HTTP\/1\.1 413 /);
    expect(written).toBeLessThan(announced);
  }, 30_000);

  it('answers 413 once a streamed (chunked) body passes max-body-bytes, and closes the connection', async () => {
    const { socket, closed } = await rawConnection(stack.kpc.kpHttpUrl);
    socket.write(`POST /kp1/${APP_VERSION}/${ECHO}/tok/json HTTP/1.1\r\nHost: kpc\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.alloc(256, 'a');
    for (let i = 0; i < (MAX_BODY / chunk.length) * 2; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    expect(await closed).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('cuts a client whose headers do not arrive within connect-timeout', async () => {
    const { socket, closed } = await rawConnection(stack.kpc.kpHttpUrl);
    socket.write(`POST /kp1/${APP_VERSION}/${ECHO}/tok/json HTTP/1.1\r\nHost: kpc\r\n`);
    await waitUntil(() => socket.destroyed || socket.readableEnded, 'the slow-headers connection to be closed', { timeoutMs: 10_000, intervalMs: 50 });
    await closed;
  }, 15_000);

  it('lets a complete request wait for its answer longer than connect-timeout (that deadline is for receiving it)', async () => {
    const { token } = stack.newToken();
    const response = await postJson(url(stack.kpc, APP_VERSION, ECHO, token, 'slow/2500/x'), { late: true });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ late: true });
  });

  it('cuts a client whose body does not arrive within connect-timeout', async () => {
    const { socket, closed } = await rawConnection(stack.kpc.kpHttpUrl);
    socket.write(`POST /kp1/${APP_VERSION}/${ECHO}/tok/json HTTP/1.1\r\nHost: kpc\r\nContent-Length: 100\r\n\r\n0123456789`);
    await waitUntil(() => socket.destroyed || socket.readableEnded, 'the slow-body connection to be closed', { timeoutMs: 10_000, intervalMs: 50 });
    await closed;
  }, 15_000);
});

describe('1/KP over HTTP: authentication required, timeouts, shared connection limit, shutdown', () => {
  const strictUrl = (...levels: Array<string | number>) => `${strict.kpHttpUrl}/api/kp1/${levels.join('/')}`;

  it('answers 401 with WWW-Authenticate: Basic without credentials or with refused ones, and serves valid ones', async () => {
    const { token } = stack.newToken();
    const target = strictUrl(APP_VERSION, ECHO, token, 'json');
    for (const headers of [{}, basic(DEVICE.username, 'wrong')]) {
      const response = await postJson(target, {}, headers);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Basic /);
      expect(await response.json()).toMatchObject({ statusCode: 401 });
    }
    expect((await postJson(target, { ok: 1 }, basic(DEVICE.username, DEVICE.password))).status).toBe(200);
  });

  it('answers 504 when the extension does not answer within request-timeout', async () => {
    const { token } = stack.newToken();
    const response = await postJson(strictUrl(APP_VERSION, ECHO, token, 'silent'), {}, basic(DEVICE.username, DEVICE.password));
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ statusCode: 504 });
  });

  it('counts HTTP connections towards max-connections together with MQTT clients', async () => {
    const limited = await stack.startKpc({ config: { kaa: { kpc: { transports: { mqtt: { 'max-connections': 1 }, http: http(60_000) } } } } });
    const client = await connectAs(limited, DEVICE);
    try {
      const response = await postJson(url(limited, APP_VERSION, ECHO, 'tok', 'json'), {});
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ statusCode: 503, reasonPhrase: 'Too many connections' });
    } finally {
      await client.endAsync();
    }
  }, 30_000);

  it('announces every HTTP session disconnected on shutdown', async () => {
    const { token, endpointId } = stack.newToken();
    expect((await postJson(strictUrl(APP_VERSION, ECHO, token, 'json'), {}, basic(DEVICE.username, DEVICE.password))).status).toBe(200);
    await elce.waitFor(listing('connected', endpointId), 'connected');
    expect(await strict.stop()).toBe(0);
    await elce.waitFor(listing('disconnected', endpointId), 'disconnected at shutdown');
  });
});
