// MQTT over TLS and client certificates (validated through 16/ECAP), against the built KPC with a
// throw-away PKI made by `openssl`: the chain is checked by Node's TLS stack before 16/ECAP is ever
// asked; a certificate that passes is sent to ECAP as an RFC 4514 issuer and a base-10 serial;
// every presented credential must validate; a stalled handshake blocks nobody else.
import { X509Certificate } from 'node:crypto';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EcapRequestLogEntry } from '../../dev/ecap-provider.js';
import { createTestPki, type ClientCertificate, type TestPki } from '../support/certificates.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { getFreePort } from '../support/nats-server.js';
import { rawTcp, tlsAttempt, type TlsAttempt } from '../support/raw-mqtt.js';
import { mqttTlsOptions, mqttTransportConfig, tlsClientOptions, tlsListener, tlsUrl, type ClientAuth } from '../support/transports.js';
import { APP_VERSION, DEVICE, ECHO, type Stack, startStack } from '../support/stack.js';
import { connackCode, connectClient, kpTopic, TestClient, uniqueId } from '../support/mqtt.js';

let pki: TestPki;
let stack: Stack;
/** The main KPC: `client-auth: optional`. */
let optionalPort: number;
/** A second KPC on the same NATS: `client-auth: required`. */
let required: KpcHandle;
let requiredPort: number;

const DEVICE_CREDENTIAL = 'cred-cert-device';
const DEVICE2_CREDENTIAL = 'cred-cert-device2';

function tlsKpcConfig(port: number, clientAuth: ClientAuth) {
  // connect-timeout is also the TLS handshake timeout: 1 s keeps the stalled-handshake test short.
  return mqttTransportConfig({ 'connect-timeout': '1s', tls: tlsListener(pki, port, clientAuth) });
}

beforeAll(async () => {
  pki = await createTestPki();
  [optionalPort, requiredPort] = [await getFreePort(), await getFreePort()];
  stack = await startStack({ kpcConfig: tlsKpcConfig(optionalPort, 'optional') });
  const { device, device2, expired, escapedIssuer } = pki.clients;
  const certificates = (stack.credentials.certificates ??= {});
  certificates[device.ecapKey] = { clientId: 'cert-device-client', credentialId: DEVICE_CREDENTIAL };
  certificates[device2.ecapKey] = { clientId: 'cert-device2-client', credentialId: DEVICE2_CREDENTIAL };
  // Known to the provider on purpose: if KPC ever asked about it, the provider would say yes.
  certificates[expired.ecapKey] = { credentialId: 'cred-cert-expired' };
  certificates[escapedIssuer.ecapKey] = { credentialId: 'cred-cert-escaped-issuer' };
  required = await stack.startKpc({ config: tlsKpcConfig(requiredPort, 'required') });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  pki?.cleanup();
});

/** CONNACK code over TLS (mqtt.js), presenting `certificate` and/or username/password. */
function tlsConnack(port: number, certificate?: ClientCertificate, credentials: { username?: string; password?: string } = {}) {
  return connackCode(tlsUrl(port), { clientId: uniqueId('tls'), ...mqttTlsOptions(pki, certificate), ...credentials });
}

function connectTls(port: number, certificate?: ClientCertificate, credentials: { username?: string; password?: string } = {}) {
  return connectClient(tlsUrl(port), { clientId: uniqueId('tls'), ...mqttTlsOptions(pki, certificate), ...credentials });
}

/**
 * The ECAP requests `action` caused on KPC `port`. Ends with a barrier: a connection with the
 * valid-but-unknown certificate to the same KPC, whose certificate request KPC sends on the same
 * NATS connection after anything `action` made it send; so a late request would not be missed.
 */
async function ecapRequestsDuring<T>(port: number, action: () => Promise<T>): Promise<{ result: T; requests: EcapRequestLogEntry[] }> {
  const log = stack.provider.requestLog;
  const from = log.length;
  const result = await action();
  const { unknown } = pki.clients;
  expect(await tlsConnack(port, unknown), 'barrier connection (valid certificate unknown to ECAP)').toBe(4);
  const isBarrier = (entry: EcapRequestLogEntry) => entry.type === 'certificate' && entry.serialNumber === unknown.serialNumber;
  const all = log.slice(from);
  expect(all.filter(isBarrier), 'the barrier connection asked ECAP once').toHaveLength(1);
  return { result, requests: all.filter((entry) => !isBarrier(entry)) };
}

const certificateRequests = (requests: EcapRequestLogEntry[]) => requests.filter((entry) => entry.type === 'certificate');

/** A request/reply over an open client: the echo extension answers with the payload. */
async function expectRequestReply(inbox: TestClient): Promise<void> {
  const { token } = stack.newToken('tls');
  const topic = kpTopic(APP_VERSION, ECHO, token, 'tls', 1);
  const payload = uniqueId('over-tls');
  const reply = await inbox.request(topic, payload);
  expect({ topic: reply.topic, payload: reply.payload.toString() }).toEqual({ topic: `${topic}/status`, payload });
}

/** A TLS attempt that must end in the handshake: no CONNACK of any kind. */
function expectHandshakeRefused(attempt: TlsAttempt): void {
  expect(attempt.outcome, `expected the TLS handshake to fail, got ${JSON.stringify(attempt)}`).not.toBe('connack');
}

describe('client certificate known to ECAP', () => {
  it('→ CONNACK 0; request/reply works over TLS; ECAP got the RFC 4514 issuer and the base-10 serial exactly', async () => {
    const { device } = pki.clients;
    const { result: client, requests } = await ecapRequestsDuring(optionalPort, () => connectTls(optionalPort, device));
    try {
      await expectRequestReply(new TestClient(client));
    } finally {
      await client.endAsync();
    }
    const asked = certificateRequests(requests);
    expect(asked).toHaveLength(1);
    expect(asked[0]!.subject).toBe('kaa.v1.service.cm.ecap.client-certificate-request');
    expect(asked[0]!.issuer).toBe('CN=Test Device CA,O=KPC Tests');
    expect(asked[0]!.issuer).toBe(device.issuer);
    expect(asked[0]!.serialNumber).toMatch(/^[1-9][0-9]*$/);
    expect(asked[0]!.serialNumber).toBe(device.serialNumber);
    expect(BigInt(asked[0]!.serialNumber!)).toBeGreaterThan(2n ** 64n); // no float rounding anywhere
    // Nothing else was presented, so nothing else was asked.
    expect(requests.filter((entry) => entry.type === 'username-password')).toEqual([]);
  });

  it('an issuer whose name needs RFC 4514 escaping (`O=KPC Tests\\, Inc.`) is sent escaped exactly once', async () => {
    const { escapedIssuer } = pki.clients;
    expect(escapedIssuer.issuer).toBe('CN=Test Device CA 2,O=KPC Tests\\, Inc.'); // openssl's RFC 2253 rendering
    const { result: code, requests } = await ecapRequestsDuring(optionalPort, () => tlsConnack(optionalPort, escapedIssuer));
    expect(certificateRequests(requests).map((entry) => entry.issuer)).toEqual([escapedIssuer.issuer]);
    expect(code).toBe(0);
  });

  it('works with client-auth: required too', async () => {
    const client = await connectTls(requiredPort, pki.clients.device);
    try {
      await expectRequestReply(new TestClient(client));
    } finally {
      await client.endAsync();
    }
  });
});

describe('client certificates that must not get in', () => {
  it('valid chain but unknown to ECAP → CONNACK 4 (ECAP was asked)', async () => {
    const from = stack.provider.requestLog.length;
    expect(await tlsConnack(optionalPort, pki.clients.unknown)).toBe(4);
    expect(certificateRequests(stack.provider.requestLog.slice(from)).map((e) => e.serialNumber)).toEqual([pki.clients.unknown.serialNumber]);
  });

  it('optional: a certificate from an untrusted CA (same issuer name and serial as a known one) → CONNACK 4, ECAP never asked', async () => {
    const { impostor, device } = pki.clients;
    expect(impostor.ecapKey).toBe(device.ecapKey); // the provider WOULD accept it if asked
    const { result: code, requests } = await ecapRequestsDuring(optionalPort, () => tlsConnack(optionalPort, impostor));
    expect(code).toBe(4);
    expect(requests).toEqual([]);
  });

  it('required: the same untrusted certificate fails the TLS handshake, ECAP never asked', async () => {
    const { result: attempt, requests } = await ecapRequestsDuring(requiredPort, () =>
      tlsAttempt(requiredPort, tlsClientOptions(pki, pki.clients.impostor), DEVICE),
    );
    expectHandshakeRefused(attempt);
    expect(requests).toEqual([]);
  });

  it('optional: an expired certificate (known to ECAP) → CONNACK 4, ECAP never asked', async () => {
    const { expired } = pki.clients;
    expect(new Date(new X509Certificate(expired.cert).validTo).getTime()).toBeLessThan(Date.now());
    const { result: code, requests } = await ecapRequestsDuring(optionalPort, () => tlsConnack(optionalPort, expired));
    expect(code).toBe(4);
    expect(requests).toEqual([]);
  });

  it('required: an expired certificate fails the TLS handshake, ECAP never asked', async () => {
    const { result: attempt, requests } = await ecapRequestsDuring(requiredPort, () =>
      tlsAttempt(requiredPort, tlsClientOptions(pki, pki.clients.expired)),
    );
    expectHandshakeRefused(attempt);
    expect(requests).toEqual([]);
  });

  it('required: no certificate fails the TLS handshake, even with a good username/password; ECAP never asked', async () => {
    const { result: attempt, requests } = await ecapRequestsDuring(requiredPort, () => tlsAttempt(requiredPort, tlsClientOptions(pki), DEVICE));
    expectHandshakeRefused(attempt);
    expect(requests).toEqual([]);
  });
});

describe('username/password over TLS', () => {
  it('optional, no certificate: a good username/password → CONNACK 0 and request/reply works; no certificate request', async () => {
    const { result: client, requests } = await ecapRequestsDuring(optionalPort, () => connectTls(optionalPort, undefined, DEVICE));
    try {
      await expectRequestReply(new TestClient(client));
    } finally {
      await client.endAsync();
    }
    expect(requests.map((entry) => [entry.type, entry.username ?? null])).toEqual([['username-password', DEVICE.username]]);
  });

  it('certificate and password both presented and good → CONNACK 0, both validated', async () => {
    const { device } = pki.clients;
    const { result: code, requests } = await ecapRequestsDuring(optionalPort, () => tlsConnack(optionalPort, device, DEVICE));
    expect(code).toBe(0);
    expect(requests.map((entry) => entry.type).sort()).toEqual(['certificate', 'username-password']);
    expect(certificateRequests(requests)[0]!.serialNumber).toBe(device.serialNumber);
  });

  it('good certificate + wrong password → CONNACK 4, both validated', async () => {
    const { result: code, requests } = await ecapRequestsDuring(optionalPort, () =>
      tlsConnack(optionalPort, pki.clients.device, { username: DEVICE.username, password: uniqueId('wrong') }),
    );
    expect(code).toBe(4);
    expect(requests.map((entry) => entry.type).sort()).toEqual(['certificate', 'username-password']);
  });

  it('certificate unknown to ECAP + good password → CONNACK 4', async () => {
    expect(await tlsConnack(optionalPort, pki.clients.unknown, DEVICE)).toBe(4);
  });

  it('untrusted certificate + good password → CONNACK 4 (a failing certificate is not ignored)', async () => {
    expect(await tlsConnack(optionalPort, pki.clients.impostor, DEVICE)).toBe(4);
  });
});

describe('credential revocation over TLS', () => {
  it("revoking the certificate's credentialId closes the connection at once; a reconnect is refused", async () => {
    const { device2 } = pki.clients;
    const client = await connectTls(optionalPort, device2);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    try {
      await expectRequestReply(new TestClient(client));
      await stack.provider.revokeCredential(DEVICE2_CREDENTIAL);
      await Promise.race([
        closed,
        new Promise((_, reject) => setTimeout(() => reject(new Error('connection still open 5 s after the credential was revoked')), 5_000)),
      ]);
    } finally {
      client.end(true);
    }
    expect(await tlsConnack(optionalPort, device2)).toBe(4);
    // The other certificate's session is unaffected.
    expect(await tlsConnack(optionalPort, pki.clients.device)).toBe(0);
  });
});

describe('TLS versions and handshakes', () => {
  it('TLS 1.1 is refused (a local TLS 1.1 server proves this client can speak it)', async () => {
    const tls11 = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;
    const control = createTlsServer({ cert: pki.server.cert, key: pki.server.key, minVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, (socket) =>
      socket.end(),
    );
    control.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
    try {
      const port = (control.address() as { port: number }).port;
      const controlAttempt = await tlsAttempt(port, { ...tlsClientOptions(pki), ...tls11 });
      expect(controlAttempt.outcome, `control server: ${JSON.stringify(controlAttempt)}`).not.toBe('error');
    } finally {
      control.close();
    }
    const attempt = await tlsAttempt(optionalPort, { ...tlsClientOptions(pki, pki.clients.device), ...tls11 });
    expect(attempt).toMatchObject({ outcome: 'error', code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
  });

  it('stalled handshakes (silent, half a ClientHello) do not delay a good client, and are closed after connect-timeout', async () => {
    const silent = await rawTcp(optionalPort);
    const halfHello = await rawTcp(optionalPort);
    // A TLS record header announcing a 512-byte ClientHello, then only its first bytes.
    halfHello.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
    try {
      const client = await connectTls(optionalPort, pki.clients.device);
      const stalledOpenAtConnack = { silent: !silent.closed, halfHello: !halfHello.closed };
      try {
        await expectRequestReply(new TestClient(client));
      } finally {
        await client.endAsync();
      }
      expect(stalledOpenAtConnack, 'both stalled handshakes were still pending when the good client got in').toEqual({ silent: true, halfHello: true });
      await silent.waitForClose(10_000, 'KPC to close the silent TLS socket (connect-timeout 1 s)');
      await halfHello.waitForClose(10_000, 'KPC to close the half-handshake TLS socket (connect-timeout 1 s)');
    } finally {
      silent.destroy();
      halfHello.destroy();
    }
  });
});

describe('management HTTP with TLS on', () => {
  it('GET /cert serves the server certificate PEM', async () => {
    const response = await fetch(`${stack.kpc.httpUrl}/cert`);
    expect(response.status).toBe(200);
    const body = await response.text();
    expect(body.trim()).toBe(pki.server.cert.trim());
    expect(new X509Certificate(body).subject).toContain('CN=localhost');
    expect(body).not.toContain('PRIVATE KEY');
  });

  it('/health lists mqtt-tls UP (both KPCs)', async () => {
    for (const kpc of [stack.kpc, required]) {
      const response = await fetch(`${kpc.httpUrl}/health`);
      const body = (await response.json()) as { status: string; components: Record<string, string> };
      expect(response.status).toBe(200);
      expect(body.status).toBe('UP');
      expect(body.components).toMatchObject({ 'mqtt-tls': 'UP', 'mqtt-tcp': 'UP', nats: 'UP' });
    }
  });
});
