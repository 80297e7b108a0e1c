// Every scalar configuration key in one table: its YAML path, validator and default. The same
// table drives environment overrides, so a key cannot be settable in YAML but not from the env.
import { randomBytes } from 'node:crypto';
import {
  bool, count, duration, httpUrl, integer, natsUrls, oneOf, pathPrefix, port, quote, size, subjectToken, text, urlPath, workerCount,
  type Parser,
} from './values.js';
import { lookup, type Tree } from './yaml-tree.js';

interface ScalarKey<T> {
  /** Dotted YAML path; also names the env variable (see envNames). */
  path: string;
  parse: Parser<T>;
  default: () => T;
  /** Extra env names accepted after the derived one. */
  aliases?: readonly string[];
  /** Settable only from the environment (the spec defines no YAML key). */
  envOnly?: boolean;
}

interface KeyOptions {
  aliases?: readonly string[];
  envOnly?: boolean;
}

const key = <T>(path: string, parse: Parser<T>, fallback: T | (() => T), options: KeyOptions = {}): ScalarKey<T> => ({
  path,
  parse,
  default: typeof fallback === 'function' ? (fallback as () => T) : () => fallback,
  ...options,
});
const optional = <T>(path: string, parse: Parser<T>): ScalarKey<T | undefined> => key<T | undefined>(path, parse, undefined);

const MQTT = 'kaa.kpc.transports.mqtt';
const HTTP = 'kaa.kpc.transports.http';
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const MQTT_MAX_PACKET = 256 * 1024 ** 2; // MQTT's variable-length encoding tops out just below 256 MiB
const perSecondOrOff = integer(0, Number.MAX_SAFE_INTEGER, 'a number per second, 0 or more (0 = off)');

export const SCALAR_KEYS = {
  instanceName: key('service.instance.name', subjectToken, 'kpc'),
  replicaId: key('service.instance.replica.id', subjectToken, () => `kpc-${randomBytes(6).toString('hex')}`),
  gracefulShutdownMs: key('service.graceful-shutdown', duration('s'), 30_000),
  drainRate: key('service.drain-rate', perSecondOrOff, 1_000),
  serverPort: key('server.port', port, 8008),
  serverHost: key('server.host', text, '0.0.0.0'),
  adminToken: optional('server.admin-token', text),
  natsUrls: key('nats.urls', natsUrls, () => ['nats://localhost:4222'], { envOnly: true }),
  logLevel: key('logging.level', oneOf(LOG_LEVELS), 'info', { aliases: ['LOG_LEVEL'] }),

  tcpEnabled: key(`${MQTT}.tcp.enabled`, bool, true),
  tcpPort: key(`${MQTT}.tcp.port`, port, 1883),
  tcpProxyProtocol: key(`${MQTT}.tcp.proxy-protocol`, bool, false),
  tlsEnabled: key(`${MQTT}.tls.enabled`, bool, false),
  tlsPort: key(`${MQTT}.tls.port`, port, 8883),
  tlsCertFile: optional(`${MQTT}.tls.cert-file`, text),
  tlsKeyFile: optional(`${MQTT}.tls.key-file`, text),
  tlsCaFile: optional(`${MQTT}.tls.ca-file`, text),
  tlsClientAuth: key(`${MQTT}.tls.client-auth`, oneOf(['none', 'optional', 'required']), 'none'),
  tlsProxyProtocol: key(`${MQTT}.tls.proxy-protocol`, bool, false),
  wsEnabled: key(`${MQTT}.ws.enabled`, bool, false),
  wsPort: key(`${MQTT}.ws.port`, port, 8080),
  wsPath: key(`${MQTT}.ws.path`, urlPath, '/ws'),
  wsProxyProtocol: key(`${MQTT}.ws.proxy-protocol`, bool, false),
  connectTimeoutMs: key(`${MQTT}.connect-timeout`, duration('ms'), 10_000),
  maxPacketBytes: key(`${MQTT}.max-packet-bytes`, size(MQTT_MAX_PACKET, '256MiB'), 1024 ** 2),
  maxConnections: key(`${MQTT}.max-connections`, count, 100_000),
  maxConnectionRate: key(`${MQTT}.max-connection-rate`, perSecondOrOff, 0),
  maxOutboundBytes: key(`${MQTT}.max-outbound-bytes`, size(MQTT_MAX_PACKET, '256MiB'), 4 * 1024 ** 2),
  maxSubscriptions: key(`${MQTT}.max-subscriptions`, count, 1_000),
  host: key(`${MQTT}.host`, text, '0.0.0.0'),

  httpEnabled: key(`${HTTP}.enabled`, bool, false),
  httpPort: key(`${HTTP}.port`, port, 8081),
  httpHost: key(`${HTTP}.host`, text, '0.0.0.0'),
  httpPathPrefix: key(`${HTTP}.path-prefix`, pathPrefix, ''),
  httpRequestTimeoutMs: key(`${HTTP}.request-timeout`, duration('ms'), 30_000),
  httpMaxBodyBytes: key(`${HTTP}.max-body-bytes`, size(MQTT_MAX_PACKET, '256MiB'), 1024 ** 2),
  httpAuthentication: key(`${HTTP}.authentication`, oneOf(['none', 'optional', 'required']), 'none'),
  httpSessionIdleTimeoutMs: key(`${HTTP}.session-idle-timeout`, duration('ms'), 60_000),
  httpTlsEnabled: key(`${HTTP}.tls.enabled`, bool, false),
  httpTlsCertFile: optional(`${HTTP}.tls.cert-file`, text),
  httpTlsKeyFile: optional(`${HTTP}.tls.key-file`, text),

  authServiceInstanceName: key('kaa.kpc.authentication.service-instance-name', subjectToken, 'cm'),
  authTimeoutMs: key('kaa.kpc.authentication.timeout', duration('ms'), 5_000),
  allowAnonymous: key('kaa.kpc.authentication.allow-anonymous', bool, false),
  negativeCacheMs: key('kaa.kpc.authentication.negative-cache', duration('ms'), 10_000),
  authMaxInFlight: key('kaa.kpc.authentication.max-in-flight', count, 1_000),
  clientProtocol: key('kaa.kpc.authentication.client-protocol', oneOf(['ecap', 'cap']), 'ecap'),
  clientServiceInstanceName: key('kaa.kpc.authentication.client-service-instance-name', subjectToken, 'ccm'),
  defaultTenantId: optional('kaa.kpc.authentication.default-tenant-id', text),
  trafficReportingIntervalMs: key('kaa.kpc.traffic-reporting.interval', duration('ms'), 60_000),
  trafficDefaultTenantId: key('kaa.kpc.traffic-reporting.default-tenant-id', text, 'default'),
  extensionTimeoutMs: key('kaa.kpc.extension-timeout', duration('ms'), 0),
  maxUnconfirmed: key('kaa.kpc.max-unconfirmed', count, 10_000),
  maxPendingPerToken: key('kaa.kpc.max-pending-per-token', count, 100),
  workers: key('kaa.kpc.workers', workerCount, 1),
  heartbeatIntervalMs: key('kaa.kpc.cluster.heartbeat-interval', duration('ms'), 5_000),
  missedHeartbeats: key('kaa.kpc.cluster.missed-heartbeats', count, 3),
  journalLength: key('kaa.kpc.inspection.journal-length', count, 64),
  retainEndedSessions: key('kaa.kpc.inspection.retain-ended', count, 1_000),
  retainEndedForMs: key('kaa.kpc.inspection.retain-ended-for', duration('ms'), 3_600_000),

  natsToken: optional('kaa.kpc.nats.token', text),
  natsUser: optional('kaa.kpc.nats.user', text),
  natsPassword: optional('kaa.kpc.nats.password', text),
  natsNkeySeedFile: optional('kaa.kpc.nats.nkey-seed-file', text),
  natsCredsFile: optional('kaa.kpc.nats.creds-file', text),
  natsTlsCaFile: optional('kaa.kpc.nats.tls.ca-file', text),
  natsTlsCertFile: optional('kaa.kpc.nats.tls.cert-file', text),
  natsTlsKeyFile: optional('kaa.kpc.nats.tls.key-file', text),

  tektonEnabled: key('kaa.tekton.enabled', bool, false),
  tektonUrl: optional('kaa.tekton.url', httpUrl),
  tektonTimeoutMs: key('kaa.tekton.timeout', duration('ms'), 10_000),
};

type KeyTable = Record<string, ScalarKey<unknown>>;
export type ScalarValues<K extends KeyTable> = { [P in keyof K]: K[P] extends ScalarKey<infer T> ? T : never };

/**
 * The env names for a key: the path upper-cased with `.` and `-` turned into `_`
 * (`kaa.kpc.transports.mqtt.tcp.port` → `KAA_KPC_TRANSPORTS_MQTT_TCP_PORT`), then any aliases.
 */
export const envNames = (k: ScalarKey<unknown>): string[] => [k.path.toUpperCase().replace(/[.-]/g, '_'), ...(k.aliases ?? [])];

/** Each key's value: env override, else YAML value, else default; all through the key's validator. */
export function resolveScalars<K extends KeyTable>(keys: K, tree: Tree, env: NodeJS.ProcessEnv): ScalarValues<K> {
  const values: Record<string, unknown> = {};
  for (const [name, k] of Object.entries(keys)) {
    // Blank env values count as unset (compose files often write `FOO=`); values are trimmed.
    const envName = envNames(k).find((n) => (env[n] ?? '').trim() !== '');
    if (envName !== undefined) {
      values[name] = k.parse(env[envName]!.trim(), k.envOnly ? quote(envName) : `${quote(k.path)} (from env ${envName})`);
      continue;
    }
    const raw = k.envOnly ? undefined : lookup(tree, k.path.split('.'));
    values[name] = raw === undefined ? k.default() : k.parse(raw, quote(k.path));
  }
  return values as ScalarValues<K>;
}
