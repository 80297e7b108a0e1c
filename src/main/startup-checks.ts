// Start-up failures an operator can fix, each reported as one line naming the configuration key,
// with exit code 2 (as for any configuration error) and no stack trace: a configuration that
// cannot be read or points at unreadable files, and a port that cannot be bound.
import type { ConnectionOptions } from 'nats';
import { checkMqttTlsFiles } from '../infra/config/configured-files.js';
import { ConfigError, loadConfig } from '../infra/config/load-config.js';
import type { KpcConfig } from '../infra/config/types.js';
import { ListenError } from '../infra/listen-error.js';
import type { Logger } from '../infra/logger.js';
import { natsConnectOptions } from '../infra/nats/connect-options.js';

export const CONFIGURATION_EXIT_CODE = 2;

/** The configuration and the NATS connect options built from it, or exit 2 with one line on stderr. */
export function readConfigOrExit(argv: string[], env: NodeJS.ProcessEnv): { config: KpcConfig; natsOptions: ConnectionOptions } {
  try {
    const config = loadConfig(argv, env);
    checkMqttTlsFiles(config);
    return { config, natsOptions: natsConnectOptions(config.nats) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`kpc: ${error.message}`);
    process.exit(CONFIGURATION_EXIT_CODE);
  }
}

/** The key that sets the port of each listener, by listener name. */
const PORT_KEYS: Record<string, string> = {
  management: 'server.port',
  'mqtt-tcp': 'kaa.kpc.transports.mqtt.tcp.port',
  'mqtt-tls': 'kaa.kpc.transports.mqtt.tls.port',
  'mqtt-ws': 'kaa.kpc.transports.mqtt.ws.port',
};

/** A listener could not bind (port in use, no permission, no such address): exit 2 naming the key. */
export function exitIfCannotListen(logger: Logger, error: unknown): void {
  if (!(error instanceof ListenError)) return;
  const key = PORT_KEYS[error.listener] ?? error.listener;
  const { address, reason } = error;
  logger.fatal({ event: 'startup.failed', key, address, reason }, `'${key}': cannot listen on ${address} (${reason})`);
  process.exit(CONFIGURATION_EXIT_CODE);
}
