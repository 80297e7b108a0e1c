// KPC configuration fragments and client options for the TLS and WebSocket transports,
// to pass as `kpcConfig` / `startKpc({ config })` (stack.ts) and to mqtt.js or node:tls.
import type { ConnectionOptions } from 'node:tls';
import type { IClientOptions } from 'mqtt';
import type { ClientCertificate, TestPki } from './certificates.js';

export type ClientAuth = 'none' | 'optional' | 'required';

type Tree = Record<string, unknown>;

/** `kaa.kpc.transports.mqtt` set to `mqtt` (deep-merged by startKpc over the test defaults). */
export function mqttTransportConfig(mqtt: Tree): Tree {
  return { kaa: { kpc: { transports: { mqtt } } } };
}

/** The `tls` listener block: the test PKI's server certificate, both trusted device CAs. */
export function tlsListener(pki: TestPki, port: number, clientAuth: ClientAuth): Tree {
  return {
    enabled: true,
    port,
    'cert-file': pki.server.certFile,
    'key-file': pki.server.keyFile,
    'ca-file': pki.trustedCaFile,
    'client-auth': clientAuth,
  };
}

export function wsListener(port: number, path = '/ws'): Tree {
  return { enabled: true, port, path };
}

/** node:tls options that trust KPC's server certificate and present `certificate`, if any. */
export function tlsClientOptions(pki: TestPki, certificate?: ClientCertificate): ConnectionOptions {
  return {
    ca: pki.trustedCa,
    rejectUnauthorized: true,
    servername: 'localhost',
    ...(certificate ? { cert: certificate.cert, key: certificate.key } : {}),
  };
}

/** mqtt.js options for `mqtts://127.0.0.1:PORT`, with the same trust and certificate. */
export function mqttTlsOptions(pki: TestPki, certificate?: ClientCertificate): IClientOptions {
  return tlsClientOptions(pki, certificate) as IClientOptions;
}

export const tlsUrl = (port: number) => `mqtts://127.0.0.1:${port}`;
export const wsUrl = (port: number, path = '/ws') => `ws://127.0.0.1:${port}${path}`;
