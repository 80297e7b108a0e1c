// KPC on a NATS that requires authentication or TLS: credentials in NATS_URLS (user:password@,
// token@), the kaa.kpc.nats.* keys (token, NKey seed file) and NATS TLS with a client certificate.
// Each case runs a secured nats-server routed to the plain one the test stack (ECAP provider,
// echo extension) uses, and a client's request goes through KPC and back. Wrong credentials keep
// KPC retrying with a line that names the problem, and no secret is ever printed. The servers
// advertise no client URLs (--no_advertise): KPC must not get in through the unsecured one.
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type TestPki } from '../support/certificates.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { getFreePort, startNatsServer, type NatsServerHandle } from '../support/nats-server.js';
import { waitUntil } from '../support/waiting.js';
import { getHealth } from '../support/kpc-probes.js';
import { type Stack, startStack, tokenTopic } from '../support/stack.js';

const CLUSTER = 'nats-auth-test';
const SECRET = `s3cret-${randomBytes(6).toString('hex')}`;

let stack: Stack;
let stackClusterPort: number;
let pki: TestPki;
const tempFiles: string[] = [];
const securedServers: NatsServerHandle[] = [];

beforeAll(async () => {
  stackClusterPort = await getFreePort();
  stack = await startStack({ noKpc: true, users: ['auth-user'], tokens: 1, natsArgs: ['--cluster', `nats://127.0.0.1:${stackClusterPort}`, '--cluster_name', CLUSTER, '--no_advertise'] });
  pki = await createTestPki();
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all(securedServers.map((server) => server.stop()));
  pki?.cleanup();
  for (const file of tempFiles) rmSync(file, { force: true });
});

function tempFile(content: string): string {
  const file = join(tmpdir(), `kpc-nats-auth-${randomBytes(6).toString('hex')}`);
  writeFileSync(file, content, { mode: 0o600 });
  tempFiles.push(file);
  return file;
}

/** A nats-server with `config` (nats-server's config syntax), routed to the stack's server. */
async function startSecuredNats(config: string): Promise<NatsServerHandle> {
  const server = await startNatsServer({
    args: ['-c', tempFile(config), '--cluster', `nats://127.0.0.1:${await getFreePort()}`, '--cluster_name', CLUSTER, '--routes', `nats://127.0.0.1:${stackClusterPort}`, '--no_advertise'],
  });
  securedServers.push(server);
  return server;
}

/** Every line KPC printed, plus its /health body: where a secret must never appear. */
async function everythingPrinted(kpc: KpcHandle): Promise<string> {
  return `${kpc.logs.join('\n')}\n${(await getHealth(kpc)).body}`;
}

/** A client's request answered through KPC, the secured server, the route and the echo extension. */
async function expectRelay(kpc: KpcHandle): Promise<void> {
  // The stack's subscriptions reach the secured server over the route asynchronously: until they
  // do, CONNECT gets CONNACK 3 (no credential service). Bounded retry, then a real round trip.
  const client = await waitUntil(() => stack.connect(kpc, 'auth-user').catch(() => undefined), 'a CONNECT accepted through the secured NATS', {
    timeoutMs: 15_000,
    intervalMs: 200,
  });
  const topic = tokenTopic('token-1', 'data', 1);
  const answer = await client.request(topic, 'through a secured NATS');
  expect(answer.topic).toBe(`${topic}/status`);
  expect(answer.payload.toString()).toBe('through a secured NATS');
  await client.end();
}

describe('KPC on a NATS that requires authentication', () => {
  it('user:password in NATS_URLS: connects, relays, never prints the password', async () => {
    const nats = await startSecuredNats(`authorization { user: kpc, password: "${SECRET}" }`);
    const kpc = await stack.startKpc({ natsUrls: [`nats://kpc:${SECRET}@127.0.0.1:${nats.port}`] });
    await expectRelay(kpc);
    const connecting = await kpc.waitForLog('nats.connecting');
    expect(connecting).toContain(`nats://127.0.0.1:${nats.port}`);
    expect(await everythingPrinted(kpc)).not.toContain(SECRET);
    await kpc.stop();
  });

  it('token@ in NATS_URLS', async () => {
    const nats = await startSecuredNats(`authorization { token: "${SECRET}" }`);
    const kpc = await stack.startKpc({ natsUrls: [`nats://${SECRET}@127.0.0.1:${nats.port}`] });
    await expectRelay(kpc);
    expect(await everythingPrinted(kpc)).not.toContain(SECRET);
    await kpc.stop();
  });

  it('kaa.kpc.nats.token from the environment', async () => {
    const nats = await startSecuredNats(`authorization { token: "${SECRET}" }`);
    const kpc = await stack.startKpc({ natsUrls: [nats.url], env: { KAA_KPC_NATS_TOKEN: SECRET } });
    await expectRelay(kpc);
    expect(await everythingPrinted(kpc)).not.toContain(SECRET);
    await kpc.stop();
  });

  it('kaa.kpc.nats.nkey-seed-file: an NKey user', async () => {
    const user = nkeys.createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const nats = await startSecuredNats(`authorization { users: [ { nkey: "${user.getPublicKey()}" } ] }`);
    const kpc = await stack.startKpc({ natsUrls: [nats.url], config: { kaa: { kpc: { nats: { 'nkey-seed-file': tempFile(`${seed}\n`) } } } } });
    await expectRelay(kpc);
    expect(await everythingPrinted(kpc)).not.toContain(seed);
    await kpc.stop();
  });

  it('wrong credentials: KPC keeps retrying, saying "Authorization Violation", never the secret', async () => {
    const nats = await startSecuredNats(`authorization { user: kpc, password: "${SECRET}" }`);
    const wrong = `wrong-${SECRET}`;
    const kpc = await stack.startKpc({ natsUrls: [`nats://kpc:${wrong}@127.0.0.1:${nats.port}`], expectHealthy: false });
    const line = await kpc.waitForLog('nats.unreachable');
    expect(JSON.parse(line)).toMatchObject({ level: 'warn', reason: expect.stringMatching(/Authorization Violation/i) });
    expect((await getHealth(kpc)).status).toBe(500);
    expect(kpc.process.exitCode).toBeNull();
    expect(await everythingPrinted(kpc)).not.toContain(wrong);
    await kpc.stop();
  });
});

describe('KPC on a NATS that requires TLS with client certificates', () => {
  const tlsServerConfig = () =>
    `tls { cert_file: "${pki.server.certFile}", key_file: "${pki.server.keyFile}", ca_file: "${pki.deviceCa.certFile}", verify: true }`;

  it('kaa.kpc.nats.tls.ca-file / cert-file / key-file: connects and relays', async () => {
    const nats = await startSecuredNats(tlsServerConfig());
    const tls = { 'ca-file': pki.deviceCa.certFile, 'cert-file': pki.clients.device.certFile, 'key-file': pki.clients.device.keyFile };
    const kpc = await stack.startKpc({ natsUrls: [`tls://127.0.0.1:${nats.port}`], config: { kaa: { kpc: { nats: { tls } } } } });
    await expectRelay(kpc);
    await kpc.stop();
  });

  it('a server certificate KPC does not trust: retried, with the TLS reason on the line', async () => {
    const nats = await startSecuredNats(tlsServerConfig());
    const tls = { 'ca-file': pki.otherCa.certFile, 'cert-file': pki.clients.device.certFile, 'key-file': pki.clients.device.keyFile };
    const kpc = await stack.startKpc({ natsUrls: [`tls://127.0.0.1:${nats.port}`], config: { kaa: { kpc: { nats: { tls } } } }, expectHealthy: false });
    const line = JSON.parse(await kpc.waitForLog('nats.unreachable', 15_000)) as { reason: string };
    expect(line.reason).toMatch(/certificate/i);
    expect((await getHealth(kpc)).status).toBe(500);
    await kpc.stop();
  });
});
