// Loads the service configuration: YAML file, then environment overrides, then validation.
// The pieces: values.ts (validators), yaml-tree.ts (YAML + dotted keys), scalar-keys.ts (the key
// table and env overrides), routing.ts (applications and extension instances).
import { readFileSync } from 'node:fs';
import type { KpcConfig } from './types.js';
import { parseRouting } from './routing.js';
import { parseNatsClient } from './nats-client.js';
import { missingExtensionInstanceWarnings } from './routing-warnings.js';
import { SCALAR_KEYS, envNames, resolveScalars } from './scalar-keys.js';
import { NAMED_KEY_PATTERNS, rejectUnknownKeys, unknownEnvWarnings } from './unknown-keys.js';
import { ConfigError, quote } from './values.js';
import { parseYamlTree } from './yaml-tree.js';

export { ConfigError } from './values.js';

export const DEFAULT_CONFIG_PATH = '/srv/kpc/service-config.yml';

/** `--config FILE` / `--config=FILE` (the last one wins), else APP_CONFIG_PATH, else the default. */
export function configPathFrom(argv: string[], env: NodeJS.ProcessEnv): string {
  let fromArgs: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    if (arg === '--config' || arg.startsWith('--config=')) {
      const value = arg === '--config' ? argv[++i] : arg.slice('--config='.length);
      if (value === undefined || value === '') throw new ConfigError("'--config' needs a file path");
      fromArgs = value;
    }
  }
  return fromArgs ?? (env.APP_CONFIG_PATH || DEFAULT_CONFIG_PATH);
}

/** Names every key in `required` that is unset while the switch `when` is on. */
function requireWhen(on: boolean, when: string, required: Record<string, unknown>): void {
  const missing = Object.keys(required).filter((path) => required[path] === undefined);
  if (on && missing.length > 0) {
    throw new ConfigError(`${missing.map(quote).join(' and ')} ${missing.length > 1 ? 'are' : 'is'} required when ${quote(when)} is true`);
  }
}

/** The configuration from YAML text and env variables; no file-system access. */
export function parseConfig(yamlText: string, env: NodeJS.ProcessEnv, fileLabel = 'the configuration file'): KpcConfig {
  const tree = parseYamlTree(yamlText, fileLabel);
  const scalarKeys = Object.values(SCALAR_KEYS);
  rejectUnknownKeys(tree, [...scalarKeys.filter((k) => !k.envOnly).map((k) => k.path), ...NAMED_KEY_PATTERNS]);
  const v = resolveScalars(SCALAR_KEYS, tree, env);
  const k = SCALAR_KEYS;
  requireWhen(v.tlsEnabled, k.tlsEnabled.path, { [k.tlsCertFile.path]: v.tlsCertFile, [k.tlsKeyFile.path]: v.tlsKeyFile });
  requireWhen(v.httpTlsEnabled, k.httpTlsEnabled.path, { [k.httpTlsCertFile.path]: v.httpTlsCertFile, [k.httpTlsKeyFile.path]: v.httpTlsKeyFile });
  requireWhen(v.tektonEnabled, k.tektonEnabled.path, { [k.tektonUrl.path]: v.tektonUrl });
  const routing = parseRouting(tree);

  return {
    service: { instanceName: v.instanceName, replicaId: v.replicaId, gracefulShutdownMs: v.gracefulShutdownMs, drainRate: v.drainRate },
    server: { port: v.serverPort, host: v.serverHost, adminToken: v.adminToken },
    nats: parseNatsClient({
      urls: v.natsUrls,
      token: v.natsToken,
      user: v.natsUser,
      password: v.natsPassword,
      nkeySeedFile: v.natsNkeySeedFile,
      credsFile: v.natsCredsFile,
      tlsCaFile: v.natsTlsCaFile,
      tlsCertFile: v.natsTlsCertFile,
      tlsKeyFile: v.natsTlsKeyFile,
    }),
    kpc: {
      mqtt: {
        tcp: { enabled: v.tcpEnabled, port: v.tcpPort, proxyProtocol: v.tcpProxyProtocol },
        tls: {
          enabled: v.tlsEnabled,
          port: v.tlsPort,
          certFile: v.tlsCertFile,
          keyFile: v.tlsKeyFile,
          caFile: v.tlsCaFile,
          clientAuth: v.tlsClientAuth,
          proxyProtocol: v.tlsProxyProtocol,
        },
        ws: { enabled: v.wsEnabled, port: v.wsPort, path: v.wsPath, proxyProtocol: v.wsProxyProtocol },
        connectTimeoutMs: v.connectTimeoutMs,
        maxPacketBytes: v.maxPacketBytes,
        maxConnections: v.maxConnections,
        maxConnectionRate: v.maxConnectionRate,
        maxOutboundBytes: v.maxOutboundBytes,
        maxSubscriptions: v.maxSubscriptions,
        host: v.host,
      },
      http: {
        enabled: v.httpEnabled,
        port: v.httpPort,
        host: v.httpHost,
        pathPrefix: v.httpPathPrefix,
        requestTimeoutMs: v.httpRequestTimeoutMs,
        maxBodyBytes: v.httpMaxBodyBytes,
        authentication: v.httpAuthentication,
        sessionIdleTimeoutMs: v.httpSessionIdleTimeoutMs,
        tls: { enabled: v.httpTlsEnabled, certFile: v.httpTlsCertFile, keyFile: v.httpTlsKeyFile },
      },
      authentication: {
        serviceInstanceName: v.authServiceInstanceName,
        timeoutMs: v.authTimeoutMs,
        allowAnonymous: v.allowAnonymous,
        negativeCacheMs: v.negativeCacheMs,
        maxInFlight: v.authMaxInFlight,
        clientProtocol: v.clientProtocol,
        clientServiceInstanceName: v.clientServiceInstanceName,
        defaultTenantId: v.defaultTenantId,
      },
      extensionTimeoutMs: v.extensionTimeoutMs,
      trafficReporting: { intervalMs: v.trafficReportingIntervalMs, defaultTenantId: v.trafficDefaultTenantId },
      maxUnconfirmed: v.maxUnconfirmed,
      maxPendingPerToken: v.maxPendingPerToken,
      workers: v.workers,
      cluster: { heartbeatIntervalMs: v.heartbeatIntervalMs, missedHeartbeats: v.missedHeartbeats },
      inspection: {
        journalLength: v.journalLength,
        retainEnded: v.retainEndedSessions,
        retainEndedForMs: v.retainEndedForMs,
      },
    },
    routing,
    tekton: { enabled: v.tektonEnabled, url: v.tektonUrl, timeoutMs: v.tektonTimeoutMs },
    logLevel: v.logLevel,
    warnings: [
      ...unknownEnvWarnings(env, scalarKeys.flatMap(envNames)),
      ...(v.tektonEnabled ? [] : missingExtensionInstanceWarnings(routing)),
    ],
  };
}

/** Reads the file chosen by configPathFrom and parses it. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): KpcConfig {
  const path = configPathFrom(argv, env);
  let yamlText: string;
  try {
    yamlText = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`cannot read the configuration file ${quote(path)} (${reason})`);
  }
  return parseConfig(yamlText, env, quote(path));
}
