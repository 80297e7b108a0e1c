// 22/CAP client authentication (Kaa 1.2+'s Client Credentials Management), against the built KPC
// with `client-protocol: cap`, a real nats-server and the dev provider answering CAP as CCM does:
// the tenant comes from `name@tenant` (or `default-tenant-id`), certificates are asked about over
// CAP too, endpoint tokens stay on 16/ECAP, and a ClientCredentialsRevokedEvent closes only the
// sessions of that tenant's credentials.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EcapRequestLogEntry } from '../../dev/ecap-provider.js';
import { codecs } from '../../src/infra/nats/codecs.js';
import { createTestPki, type TestPki } from '../support/certificates.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { getFreePort } from '../support/nats-server.js';
import { mqttTlsOptions, tlsListener, tlsUrl } from '../support/transports.js';
import { waitUntil } from '../support/waiting.js';
import { APP_VERSION, ECHO, type Stack, startStack } from '../support/stack.js';
import { connackCode, connectClient, kpTopic, TestClient, uniqueId } from '../support/mqtt.js';

const capAuthentication = (extra: Record<string, unknown> = {}) => ({ authentication: { 'client-protocol': 'cap', ...extra } });
const cap = () => ({ kaa: { kpc: capAuthentication() } });

let stack: Stack;
let withDefaultTenant: KpcHandle;
let pki: TestPki;
let tlsPort: number;

beforeAll(async () => {
  pki = await createTestPki();
  tlsPort = await getFreePort();
  stack = await startStack({ kpcConfig: cap() });
  stack.credentials.users['acme-device'] = { password: 'acme-secret', tenantId: 'acme' };
  stack.credentials.users['beta-device'] = { password: 'beta-secret', tenantId: 'beta', credentialId: 'shared-credentials-id' };
  stack.credentials.users['gamma-device'] = { password: 'gamma-secret', tenantId: 'gamma', credentialId: 'shared-credentials-id' };
  (stack.credentials.certificates ??= {})[pki.clients.device.ecapKey] = { tenantId: 'acme', credentialId: 'cred-acme-certificate' };
  withDefaultTenant = await stack.startKpc({
    config: {
      kaa: { kpc: { ...capAuthentication({ 'default-tenant-id': 'default' }), transports: { mqtt: { tls: tlsListener(pki, tlsPort, 'optional') } } } },
    },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  pki?.cleanup();
});

const url = () => stack.kpc.mqttUrl;
const connectAs = (kpc: KpcHandle, username: string, password: string) => connectClient(kpc.mqttUrl, { clientId: uniqueId('cap'), username, password });

/** The provider's log entries that `action` caused (CAP and ECAP alike). */
async function providerRequestsDuring(action: () => Promise<unknown>): Promise<EcapRequestLogEntry[]> {
  const from = stack.provider.requestLog.length;
  await action();
  return stack.provider.requestLog.slice(from);
}

describe('22/CAP username/password', () => {
  it('name@tenant: CAP is asked about the name within the tenant (split at the last @), never 16/ECAP', async () => {
    stack.credentials.users['ops@site'] = { password: 'ops-secret', tenantId: 'acme' };
    const requests = await providerRequestsDuring(async () => {
      expect(await connackCode(url(), { username: 'acme-device@acme', password: 'acme-secret' })).toBe(0);
      expect(await connackCode(url(), { username: 'ops@site@acme', password: 'ops-secret' })).toBe(0);
    });
    expect(requests).toMatchObject([
      { type: 'cap-basic', subject: 'kaa.v1.service.ccm.cap.basic-request', username: 'acme-device', tenantId: 'acme' },
      { type: 'cap-basic', username: 'ops@site', tenantId: 'acme' },
    ]);
    expect(requests[0]!.reply).toBe(`kaa.v1.replica.${stack.kpc.replicaId}.cap.basic-response`);
  });

  it('a wrong password or another tenant → CONNACK 4', async () => {
    expect(await connackCode(url(), { username: 'acme-device@acme', password: 'wrong' })).toBe(4);
    expect(await connackCode(url(), { username: 'acme-device@beta', password: 'acme-secret' })).toBe(4);
  });

  it('no @tenant and no default-tenant-id → CONNACK 4 without asking anyone', async () => {
    const requests = await providerRequestsDuring(async () => {
      expect(await connackCode(url(), { username: 'device-1', password: 'secret-1' })).toBe(4);
    });
    expect(requests).toEqual([]);
  });

  it('no @tenant with default-tenant-id → the default tenant', async () => {
    const requests = await providerRequestsDuring(async () => {
      expect(await connackCode(withDefaultTenant.mqttUrl, { username: 'device-1', password: 'secret-1' })).toBe(0);
    });
    expect(requests).toMatchObject([{ type: 'cap-basic', username: 'device-1', tenantId: 'default' }]);
  });

  it('endpoint tokens are still identified over 16/ECAP', async () => {
    const client = await connectAs(stack.kpc, 'acme-device@acme', 'acme-secret');
    try {
      const { token } = stack.newToken('cap');
      const topic = kpTopic(APP_VERSION, ECHO, token, 'data', 1);
      const requests = await providerRequestsDuring(async () => {
        expect((await new TestClient(client).request(topic, 'hello')).topic).toBe(`${topic}/status`);
      });
      expect(requests).toMatchObject([{ type: 'token', subject: 'kaa.v1.service.cm.ecap.ep-token-request', token }]);
    } finally {
      await client.endAsync();
    }
  });
});

describe('22/CAP certificates', () => {
  it('a client certificate is asked about over CAP; the response names the tenant', async () => {
    const { device } = pki.clients;
    const requests = await providerRequestsDuring(async () => {
      expect(await connackCode(tlsUrl(tlsPort), { clientId: uniqueId('cap-tls'), ...mqttTlsOptions(pki, device) })).toBe(0);
    });
    expect(requests).toMatchObject([{ type: 'cap-certificate', subject: 'kaa.v1.service.ccm.cap.certificate-request', serialNumber: device.serialNumber }]);
  });
});

describe('22/CAP revocation', () => {
  it('client-credentials.basic.revoked closes the sessions holding those credentials in that tenant only', async () => {
    const beta = await connectAs(stack.kpc, 'beta-device@beta', 'beta-secret');
    const gamma = await connectAs(stack.kpc, 'gamma-device@gamma', 'gamma-secret');
    let betaClosed = false;
    beta.once('close', () => (betaClosed = true));
    try {
      await stack.provider.revokeClientCredentials('beta', 'shared-credentials-id');
      await waitUntil(() => betaClosed, 'the beta session closed');
      // gamma holds credentials with the same id in another tenant. KPC handles one event for all
      // holders at once, so with beta closed the decision about gamma is made: it stays and is served.
      const { token } = stack.newToken('cap-gamma');
      const topic = kpTopic(APP_VERSION, ECHO, token, 'data', 2);
      expect((await new TestClient(gamma).request(topic, 'still here')).topic).toBe(`${topic}/status`);
      expect(gamma.connected).toBe(true);
      expect(await connackCode(url(), { username: 'beta-device@beta', password: 'beta-secret' })).toBe(4);
    } finally {
      beta.end(true);
      await gamma.endAsync();
    }
  });

  it('client-credentials.certificate.revoked is honoured too', async () => {
    stack.credentials.users['cert-revoked'] = { password: 'p', tenantId: 'acme', credentialId: 'cred-cert-revoked' };
    const client = await connectAs(stack.kpc, 'cert-revoked@acme', 'p');
    let closed = false;
    client.once('close', () => (closed = true));
    const event = { correlationId: randomUUID(), timestamp: Date.now(), timeout: 0, tenantId: 'acme', credentialsId: 'cred-cert-revoked', originatorReplicaId: 'test' };
    stack.nc.publish('kaa.v1.events.ccm.client-credentials.certificate.revoked', codecs.capCredentialsRevoked.encode(event));
    await waitUntil(() => closed, 'the session closed by a certificate revocation');
  });
});
