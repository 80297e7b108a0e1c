// Files the configuration points at, read (or checked) at start so that a wrong path stops the
// service with exit code 2 and a line naming the key and the path, instead of a stack trace from
// deep inside a TLS or NATS call.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { KpcConfig } from './types.js';
import { ConfigError, quote } from './values.js';

export function readConfiguredFile(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(`${quote(key)}: cannot read ${quote(path)} (${reason})`);
  }
}

/** Throws ConfigError naming the key when the MQTT TLS files cannot be read or do not make a TLS context. */
export function checkMqttTlsFiles(config: KpcConfig): void {
  const { tls } = config.kpc.mqtt;
  if (!tls.enabled) return;
  const MQTT_TLS = 'kaa.kpc.transports.mqtt.tls';
  const cert = readConfiguredFile(`${MQTT_TLS}.cert-file`, tls.certFile!);
  const key = readConfiguredFile(`${MQTT_TLS}.key-file`, tls.keyFile!);
  const ca = tls.caFile === undefined ? undefined : readConfiguredFile(`${MQTT_TLS}.ca-file`, tls.caFile);
  try {
    createSecureContext({ cert, key, ca });
  } catch (error) {
    const keys = [`${MQTT_TLS}.cert-file`, `${MQTT_TLS}.key-file`, ...(ca === undefined ? [] : [`${MQTT_TLS}.ca-file`])];
    throw new ConfigError(`${keys.map(quote).join(' / ')} do not make a TLS server context: ${(error as Error).message}`);
  }
}
