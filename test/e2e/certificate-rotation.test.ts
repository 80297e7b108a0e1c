// Certificates that rotate without dropping anyone: the built KPC serves MQTT over TLS from files
// that are replaced on disk while a client stays connected, the way a Kubernetes Secret volume
// does it (a `..data` symlink swapped to a new directory) and the way a plain writer does it (the
// files overwritten in place). New handshakes present the new certificate; the connected client
// keeps exchanging messages; a certificate and key that do not go together are refused and the
// previous certificate stays in service.
import { X509Certificate } from 'node:crypto';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type CertificateFiles, type TestPki } from '../support/certificates.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { getFreePort } from '../support/nats-server.js';
import { mqttTlsOptions, mqttTransportConfig, tlsClientOptions, tlsListener, tlsUrl } from '../support/transports.js';
import { waitUntil } from '../support/waiting.js';
import { APP_VERSION, DEVICE, ECHO, type Stack, startStack } from '../support/stack.js';
import { connectClient, kpTopic, TestClient, uniqueId } from '../support/mqtt.js';
import { metricValue } from '../support/kpc-probes.js';

let pki: TestPki;
let stack: Stack;

type ServerCertificate = CertificateFiles & { serialNumber: string };

/** The serial number (hex) of the certificate a fresh TLS handshake with `port` is shown. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ...tlsClientOptions(pki) }, () => {
      resolve(socket.getPeerCertificate().serialNumber.toUpperCase());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

function waitForServedSerial(port: number, serialNumber: string): Promise<true> {
  return waitUntil(async () => (await servedSerial(port)) === serialNumber || undefined, `a new TLS handshake presenting certificate ${serialNumber}`, { intervalMs: 50 });
}

/** A TLS client speaking for a fresh token, and a check that a request still gets its answer. */
async function connectedClient(port: number): Promise<{ client: MqttClient; stillExchanging(): Promise<void> }> {
  const client = await connectClient(tlsUrl(port), { clientId: uniqueId('rot'), ...mqttTlsOptions(pki), ...DEVICE });
  const inbox = new TestClient(client);
  const { token } = stack.newToken('rot');
  let requestId = 0;
  const stillExchanging = async () => {
    const topic = kpTopic(APP_VERSION, ECHO, token, 'rotation', ++requestId);
    const reply = await inbox.request(topic, `ping ${requestId}`);
    expect(reply.topic).toBe(`${topic}/status`);
  };
  await stillExchanging();
  return { client, stillExchanging };
}

/** A directory laid out like a Kubernetes Secret volume: tls.crt → ..data/tls.crt, ..data → ..v1. */
function secretVolume(dir: string, certificate: ServerCertificate) {
  mkdirSync(dir);
  let version = 0;
  const publish = (cert: string, key: string) => {
    const versionDir = `..v${++version}`;
    mkdirSync(join(dir, versionDir));
    writeFileSync(join(dir, versionDir, 'tls.crt'), cert);
    writeFileSync(join(dir, versionDir, 'tls.key'), key);
    writeFileSync(join(dir, versionDir, 'ca.crt'), pki.trustedCa);
    // The atomic swap the kubelet does: a new symlink renamed over `..data`.
    symlinkSync(versionDir, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  publish(certificate.cert, certificate.key);
  for (const file of ['tls.crt', 'tls.key', 'ca.crt']) symlinkSync(join('..data', file), join(dir, file));
  return { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), caFile: join(dir, 'ca.crt'), publish };
}

/** Plain files in `dir`, written in place by the tests. */
function plainFiles(dir: string, certificate: ServerCertificate) {
  mkdirSync(dir);
  const files = { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.crt') };
  writeFileSync(files.certFile, certificate.cert);
  writeFileSync(files.keyFile, certificate.key);
  writeFileSync(files.caFile, pki.trustedCa);
  return files;
}

async function startTlsKpc(files: { certFile: string; keyFile: string; caFile: string }): Promise<{ kpc: KpcHandle; port: number }> {
  const port = await getFreePort();
  const tls = { ...tlsListener(pki, port, 'none'), 'cert-file': files.certFile, 'key-file': files.keyFile, 'ca-file': files.caFile };
  return { kpc: await stack.startKpc({ config: mqttTransportConfig({ tls }) }), port };
}

/** The first `tls.reload-failed` log line after the first `mark` lines. */
function reloadFailure(kpc: KpcHandle, mark: number): Promise<string> {
  return waitUntil(() => kpc.logs.slice(mark).find((line) => line.includes('tls.reload-failed')), 'a tls.reload-failed log line');
}

const reloads = (kpc: KpcHandle, outcome: 'reloaded' | 'failed') => metricValue(kpc, 'kpc_tls_reloads_total', { listener: 'mqtt-tls', outcome });

beforeAll(async () => {
  pki = await createTestPki();
  stack = await startStack();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  pki?.cleanup();
});

describe('TLS certificate rotation', () => {
  it('Kubernetes Secret volume: the ..data symlink swapped to a new certificate; the connected client stays', async () => {
    const first = await pki.issueServerCertificate('rotation-a1');
    const second = await pki.issueServerCertificate('rotation-a2');
    const volume = secretVolume(join(pki.dir, 'secret-volume'), first);
    const { kpc, port } = await startTlsKpc(volume);
    expect(await servedSerial(port)).toBe(first.serialNumber);
    const device = await connectedClient(port);
    try {
      volume.publish(second.cert, second.key);
      await waitForServedSerial(port, second.serialNumber);
      expect(device.client.connected).toBe(true);
      await device.stillExchanging();
      expect(await reloads(kpc, 'reloaded')).toBe(1);
      expect(await metricValue(kpc, 'kpc_tls_certificate_expiry_timestamp_seconds', { listener: 'mqtt-tls' })).toBe(
        new Date(new X509Certificate(second.cert).validTo).getTime() / 1000,
      );
    } finally {
      await device.client.endAsync();
    }
  });

  it('files overwritten in place; a key that does not match keeps the old certificate, logged and counted, until a matching one arrives', async () => {
    const first = await pki.issueServerCertificate('rotation-b1');
    const second = await pki.issueServerCertificate('rotation-b2');
    const third = await pki.issueServerCertificate('rotation-b3');
    const files = plainFiles(join(pki.dir, 'plain-files'), first);
    const { kpc, port } = await startTlsKpc(files);
    const device = await connectedClient(port);
    try {
      writeFileSync(files.certFile, second.cert);
      writeFileSync(files.keyFile, second.key);
      await waitForServedSerial(port, second.serialNumber);
      await device.stillExchanging();

      // The third certificate with the second's key: refused as a pair.
      const [failedBefore, mark] = [await reloads(kpc, 'failed'), kpc.logs.length];
      writeFileSync(files.certFile, third.cert);
      const line = await reloadFailure(kpc, mark);
      expect(line).toContain(`TLS file '${files.certFile}' does not go with the key in '${files.keyFile}'`);
      expect(await reloads(kpc, 'failed')).toBe(failedBefore + 1);
      expect(await metricValue(kpc, 'kpc_tls_reload_failing', { listener: 'mqtt-tls' })).toBe(1);
      expect(await servedSerial(port)).toBe(second.serialNumber);
      await device.stillExchanging();

      // Its own key arrives: served from the next handshake on.
      writeFileSync(files.keyFile, third.key);
      await waitForServedSerial(port, third.serialNumber);
      expect(await metricValue(kpc, 'kpc_tls_reload_failing', { listener: 'mqtt-tls' })).toBe(0);
      expect(device.client.connected).toBe(true);
      await device.stillExchanging();
    } finally {
      await device.client.endAsync();
    }
  });

  it('a half-written certificate is refused naming the file, and the old certificate stays', async () => {
    const first = await pki.issueServerCertificate('rotation-c1');
    const files = plainFiles(join(pki.dir, 'half-written'), first);
    const { kpc, port } = await startTlsKpc(files);
    writeFileSync(files.certFile, first.cert.slice(0, first.cert.length / 2));
    const line = await reloadFailure(kpc, 0);
    expect(line).toContain(`TLS file '${files.certFile}' is not a PEM certificate`);
    expect(await servedSerial(port)).toBe(first.serialNumber);
  });
});
