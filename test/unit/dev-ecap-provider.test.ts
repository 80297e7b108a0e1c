// The development stand-ins KPC's tests and benchmark rely on (dev ECAP provider, echo extension),
// checked over a real nats-server with plain NATS request/reply, without KPC.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connect, type Msg, type NatsConnection } from 'nats';
import { codecs, type ClientData } from '../../src/infra/nats/codecs.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import { DevEcapProvider, parseDevCredentials, type DevCredentials } from '../../dev/ecap-provider.js';
import { EchoExtension } from '../../dev/echo-extension.js';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.js';
import { waitUntil } from '../support/waiting.js';

const warnings: string[] = [];
const quietLogger = { info: () => {}, warn: (...args: unknown[]) => warnings.push(args.join(' ')) };

let nats: NatsServerHandle;
let client: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  client = await connect({ servers: nats.url });
});

afterAll(async () => {
  await client?.close();
  await nats?.stop();
});

/** Publishes with our own reply subject; resolves with the answer, or undefined after `waitMs`. */
async function ask(subject: string, data: Uint8Array, waitMs = 2_000): Promise<Msg | undefined> {
  const reply = `test.reply.${randomUUID()}`;
  const subscription = client.subscribe(reply, { max: 1, timeout: waitMs });
  await client.flush();
  client.publish(subject, data, { reply });
  try {
    for await (const msg of subscription) return msg;
  } catch {
    // subscription timeout: no answer
  }
  return undefined;
}

/** Resolves with the next message on `subject` (subscribed before `trigger` runs). */
async function nextMessage(subject: string, trigger: () => Promise<void>): Promise<Msg> {
  const subscription = client.subscribe(subject, { max: 1, timeout: 2_000 });
  await client.flush();
  await trigger();
  for await (const msg of subscription) return msg;
  throw new Error(`nothing on ${subject}`);
}

const envelope = () => ({ correlationId: randomUUID(), timestamp: Date.now(), timeout: 1_000 });

describe('DevEcapProvider', () => {
  let credentials: DevCredentials;
  let provider: DevEcapProvider;

  const askToken = async (token: string, waitMs?: number) => {
    const request = { ...envelope(), appName: 'demo_application', token };
    const answer = await ask(subjects.tokenRequest('cm'), codecs.tokenRequest.encode(request), waitMs);
    return { request, answer };
  };
  const askPassword = async (username: string | null, password: string | null, waitMs?: number) => {
    const request = { ...envelope(), username, password };
    const answer = await ask(subjects.usernamePasswordRequest('cm'), codecs.usernamePasswordRequest.encode(request), waitMs);
    return { request, answer };
  };

  beforeAll(async () => {
    credentials = {
      users: {
        'device-1': { password: 'secret-1' },
        'gateway-1': { password: 'secret-2', clientId: 'gw', credentialId: 'cred-gw' },
        'tenant-user': { password: 'secret-3', tenantId: 'acme' },
      },
      tokens: {
        'token-1': { endpointId: 'endpoint-1' },
        'token-2': { endpointId: 'endpoint-2', tokenId: 'tid-2' },
        'token-blocked': { endpointId: 'endpoint-9', blocked: true },
      },
      certificates: { 'CN=Dev CA|0A1B': { clientId: 'cert-client' }, 'CN=Dev CA|0C0D': { tenantId: 'acme' } },
    };
    provider = new DevEcapProvider({ natsUrls: nats.url, credentials, logger: quietLogger });
    await provider.start();
  });

  afterAll(() => provider?.stop());

  beforeEach(() => {
    provider.mode = 'normal';
    provider.delayMs = 0;
  });

  it('answers a known token with 200, its endpoint and token id, on the request reply subject', async () => {
    const before = provider.tokenRequestCounts.get('token-1') ?? 0;
    const { request, answer } = await askToken('token-1');
    expect(answer).toBeDefined();
    expect(codecs.tokenResponse.decode(answer!.data)).toMatchObject({
      correlationId: request.correlationId,
      statusCode: 200,
      endpointId: 'endpoint-1',
      tokenId: 'tokid-token-1',
    });
    expect(codecs.tokenResponse.decode((await askToken('token-2')).answer!.data).tokenId).toBe('tid-2');
    expect(provider.tokenRequestCounts.get('token-1')).toBe(before + 1);
    expect(provider.requestLog.at(-2)).toMatchObject({ type: 'token', token: 'token-1', appName: 'demo_application', subject: 'kaa.v1.service.cm.ecap.ep-token-request' });
    expect(provider.requestLog.at(-2)?.reply).toMatch(/^test\.reply\./);
  });

  it('answers an unknown token with 404 and a blocked one with 403', async () => {
    const unknown = codecs.tokenResponse.decode((await askToken('no-such-token')).answer!.data);
    expect(unknown).toMatchObject({ statusCode: 404, endpointId: null, tokenId: null });
    const blocked = codecs.tokenResponse.decode((await askToken('token-blocked')).answer!.data);
    expect(blocked).toMatchObject({ statusCode: 403, endpointId: null });
  });

  it('checks username and password: 200 with default or configured ids, 401 otherwise, never logging the password', async () => {
    const ok = await askPassword('device-1', 'secret-1');
    expect(codecs.usernamePasswordResponse.decode(ok.answer!.data)).toMatchObject({
      correlationId: ok.request.correlationId,
      statusCode: 200,
      clientId: 'client-device-1',
      credentialId: 'cred-device-1',
    });
    const configured = codecs.usernamePasswordResponse.decode((await askPassword('gateway-1', 'secret-2')).answer!.data);
    expect(configured).toMatchObject({ statusCode: 200, clientId: 'gw', credentialId: 'cred-gw' });
    for (const [username, password] of [['device-1', 'wrong'], ['nobody', 'secret-1'], [null, null], ['constructor', 'x']] as const) {
      const answer = codecs.usernamePasswordResponse.decode((await askPassword(username, password)).answer!.data);
      expect(answer, `${username}/${password}`).toMatchObject({ statusCode: 401, clientId: null, credentialId: null });
    }
    expect(JSON.stringify(provider.requestLog)).not.toContain('secret-1');
    expect(provider.requestLog.at(-1)).toMatchObject({ type: 'username-password', username: 'constructor' });
  });

  it('answers 22/CAP basic requests within the user\'s tenant (default: `default`), and certificate requests with the tenant', async () => {
    const askBasic = async (tenantId: string, username: string, password: string) => {
      const request = { ...envelope(), tenantId, username, password };
      const answer = await ask(subjects.capBasicRequest('ccm'), codecs.capBasicRequest.encode(request));
      return { request, response: codecs.capBasicResponse.decode(answer!.data) };
    };
    const ok = await askBasic('acme', 'tenant-user', 'secret-3');
    expect(ok.response).toMatchObject({ correlationId: ok.request.correlationId, statusCode: 200, credentialsId: 'cred-tenant-user', clientId: 'client-tenant-user' });
    expect((await askBasic('default', 'device-1', 'secret-1')).response).toMatchObject({ statusCode: 200, credentialsId: 'cred-device-1' });
    expect((await askBasic('other', 'tenant-user', 'secret-3')).response).toMatchObject({ statusCode: 401, credentialsId: null });
    expect((await askBasic('acme', 'tenant-user', 'wrong')).response).toMatchObject({ statusCode: 401 });
    expect(provider.requestLog.at(-1)).toMatchObject({ type: 'cap-basic', username: 'tenant-user', tenantId: 'acme', subject: 'kaa.v1.service.ccm.cap.basic-request' });
    expect(JSON.stringify(provider.requestLog)).not.toContain('secret-3');

    const askCertificate = async (serialNumber: string) => {
      const answer = await ask(subjects.capCertificateRequest('ccm'), codecs.capCertificateRequest.encode({ ...envelope(), issuer: 'CN=Dev CA', serialNumber }));
      return codecs.capCertificateResponse.decode(answer!.data);
    };
    expect(await askCertificate('0C0D')).toMatchObject({ statusCode: 200, tenantId: 'acme', credentialsId: 'cred-CN=Dev CA|0C0D' });
    expect(await askCertificate('0A1B')).toMatchObject({ statusCode: 200, tenantId: 'default' });
    expect(await askCertificate('FFFF')).toMatchObject({ statusCode: 404, tenantId: null, credentialsId: null });
  });

  it('revokes 22/CAP client credentials: the table forgets them and ClientCredentialsRevokedEvent names their tenant', async () => {
    credentials.users['revoke-me'] = { password: 'p', tenantId: 'acme' };
    const events: Array<{ subject: string; tenantId: string; credentialsId: string }> = [];
    const subscription = client.subscribe('kaa.v1.events.*.client-credentials.*.revoked', {
      callback: (_error, msg) => events.push({ subject: msg.subject, ...codecs.capCredentialsRevoked.decode(msg.data) }),
    });
    await client.flush();
    await provider.revokeClientCredentials('other', 'cred-revoke-me');
    expect(credentials.users['revoke-me'], 'another tenant\'s revocation').toBeDefined();
    await provider.revokeClientCredentials('acme', 'cred-revoke-me');
    await provider.revokeClientCredentials('default', 'cred-unknown', 'certificate');
    await waitUntil(() => events.length === 3, 'three ClientCredentialsRevokedEvents');
    subscription.unsubscribe();
    expect(credentials.users['revoke-me']).toBeUndefined();
    expect(events).toMatchObject([
      { subject: 'kaa.v1.events.ccm.client-credentials.basic.revoked', tenantId: 'other', credentialsId: 'cred-revoke-me' },
      { subject: 'kaa.v1.events.ccm.client-credentials.basic.revoked', tenantId: 'acme', credentialsId: 'cred-revoke-me' },
      { subject: 'kaa.v1.events.ccm.client-credentials.certificate.revoked', tenantId: 'default', credentialsId: 'cred-unknown' },
    ]);
  });

  it('checks certificates by issuer and serial number', async () => {
    const askCertificate = async (issuer: string, serialNumber: string) => {
      const answer = await ask(subjects.certificateRequest('cm'), codecs.certificateRequest.encode({ ...envelope(), issuer, serialNumber }));
      return codecs.certificateResponse.decode(answer!.data);
    };
    expect(await askCertificate('CN=Dev CA', '0A1B')).toMatchObject({ statusCode: 200, clientId: 'cert-client', credentialId: 'cred-CN=Dev CA|0A1B' });
    expect(await askCertificate('CN=Dev CA', 'FFFF')).toMatchObject({ statusCode: 404, clientId: null });
    expect(provider.requestLog.at(-1)).toMatchObject({ type: 'certificate', issuer: 'CN=Dev CA', serialNumber: 'FFFF' });
  });

  it('sees credentials added after start', async () => {
    credentials.tokens['token-late'] = { endpointId: 'endpoint-late' };
    credentials.users['late-user'] = { password: 'late' };
    expect(codecs.tokenResponse.decode((await askToken('token-late')).answer!.data)).toMatchObject({ statusCode: 200, endpointId: 'endpoint-late' });
    expect(codecs.usernamePasswordResponse.decode((await askPassword('late-user', 'late')).answer!.data).statusCode).toBe(200);
  });

  it('silent mode: receives and counts, never answers', async () => {
    provider.mode = 'silent';
    const before = provider.tokenRequestCounts.get('token-1') ?? 0;
    expect((await askToken('token-1', 500)).answer, 'no answer expected').toBeUndefined();
    expect((await askPassword('device-1', 'secret-1', 500)).answer).toBeUndefined();
    expect(provider.tokenRequestCounts.get('token-1')).toBe(before + 1);
  });

  it('garbage mode: answers with bytes no response schema decodes', async () => {
    provider.mode = 'garbage';
    const tokenAnswer = (await askToken('token-1')).answer!;
    const passwordAnswer = (await askPassword('device-1', 'secret-1')).answer!;
    for (const bytes of [tokenAnswer.data, passwordAnswer.data]) {
      expect(bytes.length).toBeGreaterThan(0);
      expect(() => codecs.tokenResponse.decode(bytes)).toThrow();
      expect(() => codecs.usernamePasswordResponse.decode(bytes)).toThrow();
      expect(() => codecs.certificateResponse.decode(bytes)).toThrow();
    }
  });

  it('unavailable mode: answers 503 with the request correlation id', async () => {
    provider.mode = 'unavailable';
    const { request, answer } = await askToken('token-1');
    expect(codecs.tokenResponse.decode(answer!.data)).toMatchObject({ correlationId: request.correlationId, statusCode: 503, endpointId: null });
    expect(codecs.usernamePasswordResponse.decode((await askPassword('device-1', 'secret-1')).answer!.data).statusCode).toBe(503);
  });

  it('delays answers by delayMs', async () => {
    provider.delayMs = 300;
    const started = Date.now();
    const { answer } = await askToken('token-1');
    expect(codecs.tokenResponse.decode(answer!.data).statusCode).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('logs and ignores undecodable requests, and keeps working', async () => {
    const warningsBefore = warnings.length;
    expect(await ask(subjects.tokenRequest('cm'), Buffer.from('not avro'), 300)).toBeUndefined();
    expect(warnings.length).toBe(warningsBefore + 1);
    expect(warnings.at(-1)).toMatch(/undecodable ECAP request on kaa\.v1\.service\.cm\.ecap\.ep-token-request/);
    expect(codecs.tokenResponse.decode((await askToken('token-1')).answer!.data).statusCode).toBe(200);
  });

  it('revokeCredential publishes ClientCredentialRevokedEvent and refuses the credential afterwards', async () => {
    credentials.users['to-revoke'] = { password: 'pw' };
    const event = await nextMessage(subjects.credentialRevoked, () => provider.revokeCredential('cred-to-revoke'));
    expect(event.subject).toBe('kaa.v1.events.cm.client.credential.revoked');
    expect(codecs.credentialRevoked.decode(event.data)).toMatchObject({ credentialId: 'cred-to-revoke', originatorReplicaId: provider.replicaId });
    expect(codecs.usernamePasswordResponse.decode((await askPassword('to-revoke', 'pw')).answer!.data).statusCode).toBe(401);
  });

  it('revokeToken publishes EndpointTokenRevokedEvent and blocks the token afterwards', async () => {
    credentials.tokens['token-to-revoke'] = { endpointId: 'endpoint-r' };
    const event = await nextMessage(subjects.tokenRevoked, () => provider.revokeToken('endpoint-r', ['tokid-token-to-revoke']));
    expect(event.subject).toBe('kaa.v1.events.cm.endpoint.token.revoked');
    expect(codecs.tokenRevoked.decode(event.data)).toMatchObject({
      appName: 'demo_application',
      endpointId: 'endpoint-r',
      tokenIds: ['tokid-token-to-revoke'],
      originatorReplicaId: provider.replicaId,
    });
    expect(codecs.tokenResponse.decode((await askToken('token-to-revoke')).answer!.data).statusCode).toBe(403);
  });
});

describe('parseDevCredentials', () => {
  it('reads dev/credentials.yml', () => {
    const credentials = parseDevCredentials(readFileSync(new URL('../../dev/credentials.yml', import.meta.url), 'utf8'));
    expect(credentials.users['device-1']).toEqual({ password: 'secret-1' });
    expect(credentials.users['gateway-1']?.password).toBe('secret-2');
    expect(credentials.tokens['token-3']).toEqual({ endpointId: 'endpoint-3' });
    expect(credentials.users['acme-device']).toEqual({ password: 'secret-3', tenantId: 'acme' });
  });

  it('names the offending key', () => {
    expect(() => parseDevCredentials('users:\n  u:\n    password: 1234\n')).toThrow(/users\.u\.password must be a string/);
    expect(() => parseDevCredentials('tokens:\n  t: {}\n')).toThrow(/tokens\.t\.endpointId/);
    expect(() => parseDevCredentials('tokens:\n  t: { endpointId: e, blocked: maybe }\n')).toThrow(/tokens\.t\.blocked/);
    expect(parseDevCredentials('')).toEqual({ users: {}, tokens: {}, certificates: {} });
  });
});

describe('EchoExtension', () => {
  let echo: EchoExtension;

  const clientData = (overrides: Partial<ClientData> = {}): ClientData => ({
    ...envelope(),
    appVersionName: 'demo_application_v1',
    endpointId: 'endpoint-1',
    resourcePath: 'hello',
    requestId: 7,
    payload: Buffer.from('{"n":1}'),
    configName: null,
    ...overrides,
  });

  beforeAll(async () => {
    echo = new EchoExtension({ natsUrls: nats.url, instanceName: 'echo', logger: quietLogger });
    await echo.start();
  });

  afterAll(() => echo?.stop());

  beforeEach(() => {
    echo.respond = (request) => ({ statusCode: 200, payload: request.payload });
  });

  it('echoes ClientData as ExtensionData on the reply subject, copying the request fields', async () => {
    const request = clientData();
    const answer = await ask(subjects.clientData('echo'), codecs.clientData.encode(request));
    expect(codecs.extensionData.decode(answer!.data)).toMatchObject({
      correlationId: request.correlationId,
      appVersionName: 'demo_application_v1',
      extensionInstanceName: 'echo',
      endpointId: 'endpoint-1',
      resourcePath: 'hello',
      requestId: 7,
      payload: Buffer.from('{"n":1}'),
      statusCode: 200,
    });
    expect(echo.received.at(-1)).toEqual(request);
    expect((await echo.waitFor(echo.received.length, 100)).at(-1)?.correlationId).toBe(request.correlationId);
  });

  it('answers what respond returns, and not at all when it returns null', async () => {
    echo.respond = () => ({ statusCode: 400, reasonPhrase: 'bad', payload: null });
    const answer = await ask(subjects.clientData('echo'), codecs.clientData.encode(clientData({ endpointId: null, requestId: null })));
    expect(codecs.extensionData.decode(answer!.data)).toMatchObject({ statusCode: 400, reasonPhrase: 'bad', payload: null, endpointId: null, requestId: null });

    echo.respond = () => null;
    const count = echo.received.length;
    expect(await ask(subjects.clientData('echo'), codecs.clientData.encode(clientData()), 300)).toBeUndefined();
    expect(echo.received.length).toBe(count + 1);
  });

  it('waitFor resolves when enough messages arrive and rejects clearly on timeout', async () => {
    const count = echo.received.length;
    const waiting = echo.waitFor(count + 2, 2_000);
    client.publish(subjects.clientData('echo'), codecs.clientData.encode(clientData()));
    client.publish(subjects.clientData('echo'), codecs.clientData.encode(clientData()));
    expect((await waiting).length).toBeGreaterThanOrEqual(count + 2);
    await expect(echo.waitFor(count + 100, 100)).rejects.toThrow(/EchoExtension\(echo\): expected \d+ ClientData message\(s\) within 100 ms, received \d+/);
  });

  it('push publishes ExtensionData with a fresh correlation id to the KPC instance subject, or a given one', async () => {
    const pushed = await nextMessage('kaa.v1.service.kpc.esp.ExtensionData', () =>
      echo.push({ endpointId: 'endpoint-1', appVersionName: 'demo_application_v1', resourcePath: 'cmd', payload: Buffer.from('on') }),
    );
    const data = codecs.extensionData.decode(pushed.data);
    expect(data).toMatchObject({ extensionInstanceName: 'echo', endpointId: 'endpoint-1', resourcePath: 'cmd', statusCode: 200, requestId: null, reasonPhrase: null });
    expect(data.payload?.toString()).toBe('on');
    expect(data.correlationId).toMatch(/^[0-9a-f-]{36}$/);

    const elsewhere = await nextMessage('kaa.v1.replica.r1.esp.ExtensionData', () =>
      echo.push({ endpointId: null, appVersionName: null, resourcePath: 'x', payload: null, statusCode: 500 }, subjects.replicaExtensionData('r1')),
    );
    expect(codecs.extensionData.decode(elsewhere.data)).toMatchObject({ statusCode: 500, endpointId: null, payload: null });
  });

  it('logs and ignores undecodable ClientData', async () => {
    const count = echo.received.length;
    const warningsBefore = warnings.length;
    expect(await ask(subjects.clientData('echo'), Buffer.from('garbage'), 300)).toBeUndefined();
    expect(echo.received.length).toBe(count);
    expect(warnings.slice(warningsBefore).join('\n')).toMatch(/undecodable ClientData/);
  });

  it('shares the work with other instances of the same name (queue group)', async () => {
    const twin = new EchoExtension({ natsUrls: nats.url, instanceName: 'echo', logger: quietLogger });
    await twin.start();
    try {
      const before = echo.received.length;
      const answers = await Promise.all(Array.from({ length: 20 }, () => ask(subjects.clientData('echo'), codecs.clientData.encode(clientData()))));
      expect(answers.every(Boolean)).toBe(true);
      expect(echo.received.length - before + twin.received.length).toBe(20);
    } finally {
      await twin.stop();
    }
  });
});

describe('reconnection', () => {
  it('the provider answers again after nats-server restarts', async () => {
    const provider = new DevEcapProvider({ natsUrls: nats.url, credentials: { users: {}, tokens: { t: { endpointId: 'e' } } }, serviceInstanceName: 'cm-restart', logger: quietLogger });
    await provider.start();
    try {
      await nats.restart();
      const deadline = Date.now() + 10_000;
      let answer: Msg | undefined;
      while (!answer && Date.now() < deadline) {
        // `client` reconnects too (default options); retry until both are back.
        answer = await ask(subjects.tokenRequest('cm-restart'), codecs.tokenRequest.encode({ ...envelope(), appName: 'a', token: 't' }), 250).catch(() => undefined);
      }
      expect(answer && codecs.tokenResponse.decode(answer.data).endpointId).toBe('e');
    } finally {
      await provider.stop();
    }
  });
});
