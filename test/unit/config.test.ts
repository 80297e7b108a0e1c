import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError, configPathFrom, loadConfig, parseConfig } from '../../src/infra/config/load-config.js';
import { SCALAR_KEYS, envNames } from '../../src/infra/config/scalar-keys.js';
import type { KpcConfig } from '../../src/infra/config/types.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const FULL_EXAMPLE = `
service:
  instance:
    name: kpc
    replica.id: replica-1
  graceful-shutdown: 20
server:
  port: 8008
  admin-token: secret
kaa:
  kpc:
    transports:
      mqtt:
        tcp: { enabled: true, port: 1883 }
        tls: { enabled: false, port: 8883, client-auth: optional }
        ws: { enabled: false, port: 8080, path: /ws }
        connect-timeout: 10s
        max-packet-bytes: 1MiB
        max-connections: 50000
    authentication:
      service-instance-name: cm
      timeout: 5s
      allow-anonymous: false
      negative-cache: 10s
    extension-timeout: 0
    max-unconfirmed: 10000
  applications:
    demo_application:
      versions:
        demo_application_v1:
          allowed-extension-instances: [dcx, epmx, epr]
  extension-instances:
    dcx: { endpoint-aware: true }
    epmx: { endpoint-aware: true }
    epr: { endpoint-aware: false }
  tekton:
    enabled: false
`;

const MQTT = 'kaa.kpc.transports.mqtt';

/** Parses YAML with an empty environment unless one is given. */
const parse = (yaml: string, env: NodeJS.ProcessEnv = {}): KpcConfig => parseConfig(yaml, env);

/** The ConfigError message from parsing, failing the test if it parses. */
function errorOf(yaml: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(yaml, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

/** YAML setting one dotted path (itself exercising the dotted-key support) to a YAML value. */
const yamlWith = (path: string, value: string): string => `${path}: ${value}\n`;

const DEFAULT_HTTP = {
  enabled: false,
  port: 8081,
  host: '0.0.0.0',
  pathPrefix: '',
  requestTimeoutMs: 30_000,
  maxBodyBytes: 1_048_576,
  authentication: 'none',
  sessionIdleTimeoutMs: 60_000,
  tls: { enabled: false },
};

describe('parseConfig defaults', () => {
  it('an empty file means all defaults', () => {
    const config = parse('');
    expect(config.service.replicaId).toMatch(/^kpc-[0-9a-f]{12}$/);
    expect(config).toEqual({
      service: { instanceName: 'kpc', replicaId: config.service.replicaId, gracefulShutdownMs: 30_000, drainRate: 1_000 },
      server: { port: 8008, host: '0.0.0.0' },
      nats: { urls: ['nats://localhost:4222'], auth: { kind: 'none' }, tls: {} },
      kpc: {
        mqtt: {
          tcp: { enabled: true, port: 1883, proxyProtocol: false },
          tls: { enabled: false, port: 8883, clientAuth: 'none', proxyProtocol: false },
          ws: { enabled: false, port: 8080, path: '/ws', proxyProtocol: false },
          connectTimeoutMs: 10_000,
          maxPacketBytes: 1_048_576,
          maxConnections: 100_000,
          maxConnectionRate: 0,
          maxOutboundBytes: 4 * 1024 ** 2,
          maxSubscriptions: 1_000,
          host: '0.0.0.0',
        },
        http: DEFAULT_HTTP,
        authentication: {
          serviceInstanceName: 'cm', timeoutMs: 5_000, allowAnonymous: false, negativeCacheMs: 10_000, maxInFlight: 1_000,
          clientProtocol: 'ecap', clientServiceInstanceName: 'ccm',
        },
        extensionTimeoutMs: 0,
        trafficReporting: { intervalMs: 60_000, defaultTenantId: 'default' },
        maxUnconfirmed: 10_000,
        maxPendingPerToken: 100,
        workers: 1,
        cluster: { heartbeatIntervalMs: 5_000, missedHeartbeats: 3 },
        inspection: { journalLength: 64, retainEnded: 1000, retainEndedForMs: 3_600_000 },
      },
      routing: { applications: {}, extensionInstances: {} },
      tekton: { enabled: false, timeoutMs: 10_000 },
      logLevel: 'info',
      warnings: [],
    });
  });

  it('a comments-only file and empty sections also mean defaults', () => {
    expect(parse('# nothing here\n').server.port).toBe(8008);
    expect(parse('service:\nkaa:\n  kpc:\n').service.instanceName).toBe('kpc');
  });

  it('reads server.host and kaa.kpc.transports.mqtt.max-subscriptions', () => {
    const config = parse('server:\n  host: 127.0.0.1\nkaa.kpc.transports.mqtt.max-subscriptions: 5\n');
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.kpc.mqtt.maxSubscriptions).toBe(5);
    expect(() => parse('kaa.kpc.transports.mqtt.max-subscriptions: 0\n')).toThrow(/max-subscriptions/);
  });

  it('generates a fresh replica id per parse', () => {
    expect(parse('').service.replicaId).not.toBe(parse('').service.replicaId);
  });
});

describe('1/KP over HTTP keys', () => {
  const HTTP = 'kaa.kpc.transports.http';

  it('reads every key', () => {
    const yaml = [
      `${HTTP}.enabled: true`, `${HTTP}.port: 9081`, `${HTTP}.host: 127.0.0.1`, `${HTTP}.path-prefix: /api`,
      `${HTTP}.request-timeout: 5s`, `${HTTP}.max-body-bytes: 64KiB`, `${HTTP}.authentication: required`,
      `${HTTP}.session-idle-timeout: 2m`,
    ].join('\n');
    expect(parse(yaml).kpc.http).toEqual({
      ...DEFAULT_HTTP, enabled: true, port: 9081, host: '127.0.0.1', pathPrefix: '/api', requestTimeoutMs: 5_000,
      maxBodyBytes: 65_536, authentication: 'required', sessionIdleTimeoutMs: 120_000,
    });
  });

  it.each([
    ['path-prefix', 'api', 'path starting with "/"'],
    ['path-prefix', '/api/', 'not ending with "/"'],
    ['authentication', 'basic', 'one of none, optional, required'],
    ['max-body-bytes', '0', 'a size in bytes'],
  ])('refuses %s: %s, naming the key', (key, value, expectation) => {
    const message = errorOf(yamlWith(`${HTTP}.${key}`, value));
    expect(message).toContain(`'${HTTP}.${key}'`);
    expect(message).toContain(expectation);
  });

  it('requires the certificate and key when its TLS is on', () => {
    expect(errorOf(yamlWith(`${HTTP}.tls.enabled`, 'true'))).toContain(`'${HTTP}.tls.cert-file' and '${HTTP}.tls.key-file' are required`);
  });
});

describe('parseConfig full example', () => {
  it('parses the spec example', () => {
    expect(parse(FULL_EXAMPLE)).toEqual({
      service: { instanceName: 'kpc', replicaId: 'replica-1', gracefulShutdownMs: 20_000, drainRate: 1_000 },
      server: { port: 8008, host: '0.0.0.0', adminToken: 'secret' },
      nats: { urls: ['nats://localhost:4222'], auth: { kind: 'none' }, tls: {} },
      kpc: {
        mqtt: {
          tcp: { enabled: true, port: 1883, proxyProtocol: false },
          tls: { enabled: false, port: 8883, clientAuth: 'optional', proxyProtocol: false },
          ws: { enabled: false, port: 8080, path: '/ws', proxyProtocol: false },
          connectTimeoutMs: 10_000,
          maxPacketBytes: 1_048_576,
          maxConnections: 50_000,
          maxConnectionRate: 0,
          maxOutboundBytes: 4 * 1024 ** 2,
          maxSubscriptions: 1_000,
          host: '0.0.0.0',
        },
        http: DEFAULT_HTTP,
        authentication: {
          serviceInstanceName: 'cm', timeoutMs: 5_000, allowAnonymous: false, negativeCacheMs: 10_000, maxInFlight: 1_000,
          clientProtocol: 'ecap', clientServiceInstanceName: 'ccm',
        },
        extensionTimeoutMs: 0,
        trafficReporting: { intervalMs: 60_000, defaultTenantId: 'default' },
        maxUnconfirmed: 10_000,
        maxPendingPerToken: 100,
        workers: 1,
        cluster: { heartbeatIntervalMs: 5_000, missedHeartbeats: 3 },
        inspection: { journalLength: 64, retainEnded: 1000, retainEndedForMs: 3_600_000 },
      },
      routing: {
        applications: {
          demo_application: { versions: { demo_application_v1: { allowedExtensionInstances: ['dcx', 'epmx', 'epr'] } } },
        },
        extensionInstances: { dcx: { endpointAware: true }, epmx: { endpointAware: true }, epr: { endpointAware: false } },
      },
      tekton: { enabled: false, timeoutMs: 10_000 },
      logLevel: 'info',
      warnings: [],
    });
  });

  it('routing maps answer nothing for Object.prototype names', () => {
    const { routing } = parse(FULL_EXAMPLE);
    expect(routing.extensionInstances['constructor']).toBeUndefined();
    expect(routing.applications['demo_application']!.versions['toString']).toBeUndefined();
  });

  it('reads TLS files, tekton, host and logging', () => {
    const config = parse(`
kaa:
  kpc.transports.mqtt:
    host: 127.0.0.1
    tls: { enabled: true, cert-file: /c.pem, key-file: /k.pem, ca-file: /ca.pem, client-auth: required }
  tekton: { enabled: true, url: "http://tekton:8080/api", timeout: 2s }
logging: { level: debug }
`);
    expect(config.kpc.mqtt.host).toBe('127.0.0.1');
    expect(config.kpc.mqtt.tls).toEqual({
      enabled: true, port: 8883, certFile: '/c.pem', keyFile: '/k.pem', caFile: '/ca.pem', clientAuth: 'required', proxyProtocol: false,
    });
    expect(config.tekton).toEqual({ enabled: true, url: 'http://tekton:8080/api', timeoutMs: 2_000 });
    expect(config.logLevel).toBe('debug');
  });
});

describe('dotted keys', () => {
  it('replica.id under instance equals replica: { id }', () => {
    const dotted = parse('service: { instance: { name: kpc, replica.id: abc } }');
    const nested = parse('service: { instance: { name: kpc, replica: { id: abc } } }');
    expect(dotted.service.replicaId).toBe('abc');
    expect(nested.service.replicaId).toBe('abc');
  });

  it('dotted keys at any level merge with nested ones', () => {
    const config = parse(`
kaa.kpc.transports.mqtt.tcp.port: 1999
kaa:
  kpc:
    transports.mqtt:
      tcp: { enabled: false }
`);
    expect(config.kpc.mqtt.tcp).toEqual({ enabled: false, port: 1999, proxyProtocol: false });
  });

  it('routing sections can be reached through a dotted key', () => {
    const config = parse('kaa.applications.app.versions.v1.allowed-extension-instances: [x]\n');
    expect(config.routing.applications).toEqual({ app: { versions: { v1: { allowedExtensionInstances: ['x'] } } } });
  });

  it('the same key set both ways is an error naming it', () => {
    expect(errorOf('service: { instance: { replica.id: a, replica: { id: b } } }')).toContain("'service.instance.replica.id'");
    expect(errorOf('service: { instance: { replica: x, replica.id: b } }')).toContain("'service.instance.replica'");
  });

  it('an empty segment is an error naming the key', () => {
    expect(errorOf('service: { instance..name: x }')).toContain("'service.instance..name'");
  });
});

describe('environment overrides', () => {
  it('overrides a port', () => {
    expect(parse(FULL_EXAMPLE, { KAA_KPC_TRANSPORTS_MQTT_TCP_PORT: '1884' }).kpc.mqtt.tcp.port).toBe(1884);
  });

  it('overrides a boolean', () => {
    expect(parse(FULL_EXAMPLE, { KAA_KPC_AUTHENTICATION_ALLOW_ANONYMOUS: 'true' }).kpc.authentication.allowAnonymous).toBe(true);
    expect(parse('', { KAA_KPC_TRANSPORTS_MQTT_TCP_ENABLED: 'false' }).kpc.mqtt.tcp.enabled).toBe(false);
  });

  it('overrides a duration', () => {
    const config = parse(FULL_EXAMPLE, { KAA_KPC_TRANSPORTS_MQTT_CONNECT_TIMEOUT: '3s', KAA_KPC_EXTENSION_TIMEOUT: '250' });
    expect(config.kpc.mqtt.connectTimeoutMs).toBe(3_000);
    expect(config.kpc.extensionTimeoutMs).toBe(250);
    expect(parse('', { SERVICE_GRACEFUL_SHUTDOWN: '5' }).service.gracefulShutdownMs).toBe(5_000);
  });

  it('overrides strings', () => {
    const config = parse(FULL_EXAMPLE, {
      KAA_KPC_AUTHENTICATION_SERVICE_INSTANCE_NAME: 'other-cm',
      SERVICE_INSTANCE_NAME: 'kpc2',
      SERVICE_INSTANCE_REPLICA_ID: 'replica-9',
      SERVER_ADMIN_TOKEN: 'from-env',
      SERVER_PORT: '9000',
      KAA_KPC_TRANSPORTS_MQTT_MAX_PACKET_BYTES: '64KiB',
    });
    expect(config.kpc.authentication.serviceInstanceName).toBe('other-cm');
    expect(config.service).toEqual({ instanceName: 'kpc2', replicaId: 'replica-9', gracefulShutdownMs: 20_000, drainRate: 1_000 });
    expect(config.server).toEqual({ port: 9000, host: '0.0.0.0', adminToken: 'from-env' });
    expect(config.kpc.mqtt.maxPacketBytes).toBe(65_536);
  });

  it('LOGGING_LEVEL and its alias LOG_LEVEL; the full name wins', () => {
    expect(parse('', { LOG_LEVEL: 'warn' }).logLevel).toBe('warn');
    expect(parse('logging: { level: error }', { LOGGING_LEVEL: 'trace' }).logLevel).toBe('trace');
    expect(parse('', { LOGGING_LEVEL: 'debug', LOG_LEVEL: 'warn' }).logLevel).toBe('debug');
  });

  it('blank values are ignored and values are trimmed', () => {
    const config = parse(FULL_EXAMPLE, { SERVER_ADMIN_TOKEN: '', SERVER_PORT: ' 9001 ' });
    expect(config.server).toEqual({ port: 9001, host: '0.0.0.0', adminToken: 'secret' });
  });

  it('every key has its own env names', () => {
    const names = Object.values(SCALAR_KEYS).flatMap(envNames);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['KAA_KPC_TRANSPORTS_MQTT_TCP_PORT', 'SERVER_ADMIN_TOKEN', 'NATS_URLS', 'LOG_LEVEL']));
  });

  it('unknown env names are ignored', () => {
    expect(parse('', { KAA_APPLICATIONS: 'x', KAA_NOT_A_KEY: '1' }).routing.applications).toEqual({});
  });

  it('invalid env values name the key and the variable', () => {
    const message = errorOf('', { KAA_KPC_TRANSPORTS_MQTT_TCP_PORT: 'abc' });
    expect(message).toBe(
      `Invalid configuration: '${MQTT}.tcp.port' (from env KAA_KPC_TRANSPORTS_MQTT_TCP_PORT) must be an integer 1-65535 (or 0 for any free port), got "abc"`,
    );
    expect(errorOf('', { KAA_KPC_AUTHENTICATION_ALLOW_ANONYMOUS: 'yes' })).toContain("'kaa.kpc.authentication.allow-anonymous'");
    expect(errorOf('', { SERVICE_INSTANCE_REPLICA_ID: 'a.b' })).toContain("'service.instance.replica.id'");
  });
});

describe('NATS_URLS', () => {
  it('splits and trims a comma-separated list', () => {
    expect(parse('', { NATS_URLS: ' nats://a:4222 , tls://b:4443,,' }).nats.urls).toEqual(['nats://a:4222', 'tls://b:4443']);
  });

  it('rejects other schemes and empty lists, naming NATS_URLS', () => {
    expect(errorOf('', { NATS_URLS: 'nats://a:4222,http://b' })).toMatch(/'NATS_URLS' .*"http:\/\/b"/);
    expect(errorOf('', { NATS_URLS: ' , ' })).toContain("'NATS_URLS'");
  });

  it('takes credentials out of the URLs: user:password@ and token@ (percent-decoded)', () => {
    expect(parse('', { NATS_URLS: 'nats://kpc:p%40ss@a:4222,nats://kpc:p%40ss@b:4222' }).nats).toMatchObject({
      urls: ['nats://a:4222', 'nats://b:4222'],
      auth: { kind: 'user', user: 'kpc', password: 'p@ss' },
    });
    expect(parse('', { NATS_URLS: 'tls://s3cr3t@a:4443' }).nats).toMatchObject({ urls: ['tls://a:4443'], auth: { kind: 'token', token: 's3cr3t' } });
  });

  it('credentials come from one place, the same in every URL, user and password together', () => {
    expect(errorOf('', { NATS_URLS: 'nats://u:secret1@a,nats://u:secret2@b' })).toContain("'NATS_URLS' must give the same credentials");
    expect(errorOf('kaa.kpc.nats.token: t', { NATS_URLS: 'nats://u:p@a' })).toContain("credentials in NATS_URLS and 'kaa.kpc.nats.token'");
    expect(errorOf('kaa.kpc.nats: { token: t, creds-file: /x.creds }')).toContain("'kaa.kpc.nats.token' and 'kaa.kpc.nats.creds-file'");
    expect(errorOf('kaa.kpc.nats.user: u')).toContain("'kaa.kpc.nats.user' and 'kaa.kpc.nats.password' go together");
    expect(errorOf('kaa.kpc.nats.tls.cert-file: /c.pem')).toContain("'kaa.kpc.nats.tls.cert-file' and 'kaa.kpc.nats.tls.key-file' go together");
    for (const message of [errorOf('', { NATS_URLS: 'nats://u:secret1@a,nats://u:secret2@b' }), errorOf('kaa.kpc.nats.token: t', { NATS_URLS: 'nats://u:p@a' })]) {
      expect(message).not.toMatch(/secret1|secret2|:p@/);
    }
  });

  it('the kaa.kpc.nats keys, from YAML or the environment', () => {
    expect(parse('kaa.kpc.nats: { user: kpc, password: pw, tls: { ca-file: /ca.pem } }').nats).toMatchObject({
      auth: { kind: 'user', user: 'kpc', password: 'pw' },
      tls: { caFile: '/ca.pem' },
    });
    expect(parse('', { KAA_KPC_NATS_CREDS_FILE: '/kpc.creds' }).nats.auth).toEqual({ kind: 'creds', credsFile: '/kpc.creds' });
    expect(parse('kaa.kpc.nats.nkey-seed-file: /seed').nats.auth).toEqual({ kind: 'nkey', seedFile: '/seed' });
  });

  it('does not echo credentials of a rejected URL', () => {
    const message = errorOf('', { NATS_URLS: 'ws://user:hunter2@b' });
    expect(message).toContain('NATS_URLS');
    expect(message).not.toContain('hunter2');
  });
});

describe('durations', () => {
  const timeout = (value: string) => parse(yamlWith(`${MQTT}.connect-timeout`, value)).kpc.mqtt.connectTimeoutMs;
  const grace = (value: string) => parse(yamlWith('service.graceful-shutdown', value)).service.gracefulShutdownMs;

  it.each([
    ['10s', 10_000], ['500ms', 500], ['1m', 60_000], ['1500', 1_500], ['"250"', 250], ['0', 0], ['1.5s', 1_500], ['2 s', 2_000],
  ])('connect-timeout %s → %i ms', (value, ms) => {
    expect(timeout(value)).toBe(ms);
  });

  it('graceful-shutdown: a bare number is seconds, a unit is honoured', () => {
    expect(grace('30')).toBe(30_000);
    expect(grace('500ms')).toBe(500);
    expect(grace('2m')).toBe(120_000);
  });

  it('each duration key is read', () => {
    const config = parse(`
kaa:
  kpc:
    authentication: { timeout: 1s, negative-cache: 2m }
    extension-timeout: 750ms
  tekton: { timeout: 3s }
`);
    expect(config.kpc.authentication.timeoutMs).toBe(1_000);
    expect(config.kpc.authentication.negativeCacheMs).toBe(120_000);
    expect(config.kpc.extensionTimeoutMs).toBe(750);
    expect(config.tekton.timeoutMs).toBe(3_000);
  });

  it.each(['-1', '10 seconds', '1h', 'abc', 'true', '[1]', '3000000000'])('rejects %s, naming the key', (value) => {
    expect(errorOf(yamlWith(`${MQTT}.connect-timeout`, value))).toContain(`'${MQTT}.connect-timeout' must be a duration`);
  });
});

describe('sizes', () => {
  const size = (value: string) => parse(yamlWith(`${MQTT}.max-packet-bytes`, value)).kpc.mqtt.maxPacketBytes;

  it.each([
    ['1024', 1024], ['"2048"', 2048], ['1MiB', 1_048_576], ['512KiB', 524_288], ['1MB', 1_000_000], ['2KB', 2_000],
    ['100B', 100], ['256MiB', 268_435_456],
  ])('max-packet-bytes %s → %i', (value, bytes) => {
    expect(size(value)).toBe(bytes);
  });

  it.each(['0', '-5', '1 megabyte', '1mb', '257MiB', '1.5'])('rejects %s, naming the key', (value) => {
    expect(errorOf(yamlWith(`${MQTT}.max-packet-bytes`, value))).toContain(`'${MQTT}.max-packet-bytes'`);
  });
});

describe('workers', () => {
  const workers = (value: string, env: NodeJS.ProcessEnv = {}) => parse(yamlWith('kaa.kpc.workers', value), env).kpc.workers;

  it('takes a count, or auto for one per core', () => {
    expect(workers('4')).toBe(4);
    expect(workers('auto')).toBe(availableParallelism());
    expect(parse('', { KAA_KPC_WORKERS: 'auto' }).kpc.workers).toBe(availableParallelism());
  });

  it.each(['0', '-1', '1.5', 'all', '1025'])('rejects %s, naming the key', (value) => {
    expect(errorOf(yamlWith('kaa.kpc.workers', value))).toContain("'kaa.kpc.workers' must be a whole number of workers 1-1024, or auto");
  });
});

describe('scalar validation errors name the key', () => {
  it.each([
    [`${MQTT}.tcp.port`, '"abc"'],
    [`${MQTT}.tcp.port`, '65536'],
    [`${MQTT}.tcp.port`, '1.5'],
    [`${MQTT}.tls.port`, '-1'],
    ['server.port', '{ a: 1 }'],
    ['kaa.kpc.authentication.allow-anonymous', '3'],
    ['kaa.kpc.authentication.allow-anonymous', 'yes'],
    [`${MQTT}.tls.client-auth`, 'sometimes'],
    [`${MQTT}.max-connections`, '0'],
    ['kaa.kpc.max-unconfirmed', 'lots'],
    ['kaa.kpc.max-pending-per-token', '-3'],
    ['logging.level', 'verbose'],
    ['server.admin-token', '""'],
    ['server.admin-token', '12345'],
    [`${MQTT}.ws.path`, 'ws'],
    [`${MQTT}.host`, '[a]'],
    ['kaa.tekton.url', 'not a url'],
    ['service.instance.name', 'kpc.1'],
    ['service.instance.name', '"kpc 1"'],
    ['service.instance.replica.id', 'a*'],
    ['service.instance.replica.id', 'a>'],
    ['kaa.kpc.authentication.service-instance-name', 'c.m'],
    [`${MQTT}.max-connection-rate`, '-1'],
    [`${MQTT}.max-connection-rate`, '2.5'],
    [`${MQTT}.tcp.proxy-protocol`, 'v2'],
    [`${MQTT}.tls.proxy-protocol`, '1'],
    [`${MQTT}.ws.proxy-protocol`, 'on'],
    ['service.drain-rate', 'fast'],
    ['service.drain-rate', '-5'],
  ])('%s: %s', (path, value) => {
    expect(errorOf(yamlWith(path, value))).toContain(`'${path}' must be`);
  });

  it('matches the documented message shape', () => {
    expect(errorOf('kaa: { kpc: { transports: { mqtt: { tcp: { port: "abc" } } } } }')).toBe(
      `Invalid configuration: '${MQTT}.tcp.port' must be an integer 1-65535 (or 0 for any free port), got "abc"`,
    );
  });

  it('reads the front-door keys: rate limit, PROXY protocol per listener, drain rate', () => {
    const config = parse(`
service.drain-rate: 0
kaa.kpc.transports.mqtt:
  max-connection-rate: 200
  tcp.proxy-protocol: true
  ws: { enabled: true, proxy-protocol: true }
`);
    expect(config.service.drainRate).toBe(0);
    expect(config.kpc.mqtt.maxConnectionRate).toBe(200);
    expect([config.kpc.mqtt.tcp.proxyProtocol, config.kpc.mqtt.tls.proxyProtocol, config.kpc.mqtt.ws.proxyProtocol]).toEqual([true, false, true]);
    expect(parse('', { KAA_KPC_TRANSPORTS_MQTT_TLS_PROXY_PROTOCOL: 'true' }).kpc.mqtt.tls.proxyProtocol).toBe(true);
  });

  it('allows port 0 and accepts quoted digits', () => {
    expect(parse(yamlWith('server.port', '0')).server.port).toBe(0);
    expect(parse(yamlWith('server.port', '"8100"')).server.port).toBe(8100);
  });

  it('does not echo a mistyped secret', () => {
    expect(errorOf(yamlWith('server.admin-token', '12345'))).not.toContain('12345');
  });

  it('a scalar where a section belongs names the section', () => {
    expect(errorOf(`kaa: { kpc: { transports: { mqtt: { tcp: 5 } } } }`)).toContain(`'${MQTT}.tcp' must be a mapping`);
  });
});

describe('required-when rules', () => {
  it('tls.enabled needs cert-file and key-file', () => {
    const both = errorOf(yamlWith(`${MQTT}.tls.enabled`, 'true'));
    expect(both).toContain(`'${MQTT}.tls.cert-file'`);
    expect(both).toContain(`'${MQTT}.tls.key-file'`);
    const keyOnly = errorOf(`${MQTT}.tls: { enabled: true, cert-file: /c.pem }`);
    expect(keyOnly).toContain(`'${MQTT}.tls.key-file' is required when '${MQTT}.tls.enabled' is true`);
    expect(keyOnly).not.toContain('cert-file');
  });

  it('tls.enabled from the env also triggers the rule', () => {
    expect(errorOf('', { KAA_KPC_TRANSPORTS_MQTT_TLS_ENABLED: 'true' })).toContain(`'${MQTT}.tls.cert-file'`);
  });

  it('tekton.enabled needs tekton.url', () => {
    expect(errorOf('kaa: { tekton: { enabled: true } }')).toContain("'kaa.tekton.url' is required when 'kaa.tekton.enabled' is true");
    expect(parse('kaa: { tekton: { enabled: true } }', { KAA_TEKTON_URL: 'https://t' }).tekton.url).toBe('https://t');
  });
});

describe('routing validation', () => {
  it('an allowed extension instance need not be listed under extension-instances', () => {
    const config = parse(`
kaa:
  applications: { app: { versions: { v1: { allowed-extension-instances: [dcx, other] } } } }
  extension-instances: { dcx: { endpoint-aware: true }, plain: {}, bare: }
`);
    expect(config.routing.applications.app!.versions.v1!.allowedExtensionInstances).toEqual(['dcx', 'other']);
    expect(config.routing.extensionInstances).toEqual({ dcx: { endpointAware: true }, plain: { endpointAware: false }, bare: { endpointAware: false } });
  });

  it('an application may name its tenant (tenant-id), for endpoint traffic reports', () => {
    const config = parse('kaa: { applications: { a: { tenant-id: acme, versions: { v: {} } }, b: {} } }');
    expect(config.routing.applications.a!.tenantId).toBe('acme');
    expect(config.routing.applications.b!.tenantId).toBeUndefined();
    expect(errorOf('kaa: { applications: { a: { tenant-id: [x] } } }')).toContain("'kaa.applications.a.tenant-id'");
  });

  it('22/CAP client authentication and traffic reporting keys', () => {
    const config = parse(`
kaa.kpc:
  authentication: { client-protocol: cap, client-service-instance-name: ccm-2, default-tenant-id: acme }
  traffic-reporting: { interval: 5s, default-tenant-id: t0 }
`);
    expect(config.kpc.authentication).toMatchObject({ clientProtocol: 'cap', clientServiceInstanceName: 'ccm-2', defaultTenantId: 'acme' });
    expect(config.kpc.trafficReporting).toEqual({ intervalMs: 5_000, defaultTenantId: 't0' });
    expect(parse('kaa.kpc.traffic-reporting.interval: 0').kpc.trafficReporting.intervalMs).toBe(0);
    expect(errorOf('kaa.kpc.authentication.client-protocol: ldap')).toContain("'kaa.kpc.authentication.client-protocol'");
  });

  it('an application without versions, and a version without a list, are empty', () => {
    const config = parse('kaa: { applications: { a: {}, b: { versions: { v: {} } } } }');
    expect(config.routing.applications).toEqual({ a: { versions: {} }, b: { versions: { v: { allowedExtensionInstances: [] } } } });
  });

  it('an application version name under two applications names both', () => {
    const message = errorOf(`
kaa:
  applications:
    one: { versions: { v1: {} } }
    two: { versions: { v1: {} } }
`);
    expect(message).toContain("'kaa.applications.one.versions.v1'");
    expect(message).toContain("'kaa.applications.two.versions.v1'");
  });

  it('versions that is not a mapping names kaa.applications.<app>.versions', () => {
    expect(errorOf('kaa: { applications: { app: { versions: [v1] } } }')).toContain("'kaa.applications.app.versions' must be a mapping");
  });

  it.each([
    ['application', 'kaa: { applications: { "a/b": {} } }', "'kaa.applications.a/b'"],
    ['dotted application', 'kaa: { applications: { "my.app": {} } }', "'kaa.applications.my.app'"],
    ['version', 'kaa: { applications: { a: { versions: { "v#1": {} } } } }', "'kaa.applications.a.versions.v#1'"],
    ['dotted version', 'kaa: { applications: { a: { versions: { v1.0: {} } } } }', "'kaa.applications.a.versions.v1.0'"],
    ['extension instance', 'kaa: { extension-instances: { "e+x": {} } }', "'kaa.extension-instances.e+x'"],
    ['empty extension instance', 'kaa: { extension-instances: { "": {} } }', "'kaa.extension-instances.'"],
    ['listed extension', 'kaa: { applications: { a: { versions: { v: { allowed-extension-instances: [ok, "x.y"] } } } } }',
      "'kaa.applications.a.versions.v.allowed-extension-instances[1]'"],
    ['non-string listed extension', 'kaa: { applications: { a: { versions: { v: { allowed-extension-instances: [{}] } } } } }',
      "'kaa.applications.a.versions.v.allowed-extension-instances[0]'"],
  ])('rejects an invalid %s name', (_kind, yaml, where) => {
    expect(errorOf(yaml)).toContain(`${where} must be a non-empty name`);
  });

  it.each([
    ['kaa: { applications: [a] }', "'kaa.applications' must be a mapping"],
    ['kaa: { extension-instances: x }', "'kaa.extension-instances' must be a mapping"],
    ['kaa: { applications: { a: 3 } }', "'kaa.applications.a' must be a mapping"],
    ['kaa: { applications: { a: { versions: { v: [x] } } } }', "'kaa.applications.a.versions.v' must be a mapping"],
    ['kaa: { applications: { a: { versions: { v: { allowed-extension-instances: x } } } } }',
      "'kaa.applications.a.versions.v.allowed-extension-instances' must be a list"],
    ['kaa: { extension-instances: { e: { endpoint-aware: maybe } } }', "'kaa.extension-instances.e.endpoint-aware' must be true or false"],
  ])('rejects wrong shapes: %s', (yaml, expected) => {
    expect(errorOf(yaml)).toContain(expected);
  });
});

describe('file-level errors', () => {
  it.each([
    ['a list', '- a\n- b\n'],
    ['a scalar', 'just text\n'],
  ])('rejects a top level that is %s', (_kind, yaml) => {
    expect(errorOf(yaml)).toContain('must contain a mapping at the top level');
  });

  it('rejects invalid YAML and duplicate keys, naming the file', () => {
    expect(() => parseConfig('a: [1, 2', {}, "'x.yml'")).toThrow(/'x\.yml' is not valid YAML/);
    expect(errorOf('server:\n  port: 1\n  port: 2\n')).toContain('not valid YAML');
  });

});

describe('unknown keys', () => {
  it.each([
    ['server.prot: 9000', "unknown key 'server.prot' (did you mean 'server.port'?)"],
    ['kaa.kpc.authentication.timout: 3s', "unknown key 'kaa.kpc.authentication.timout' (did you mean 'kaa.kpc.authentication.timeout'?)"],
    ['kaa: { kpc: { transports: { mqtt: { tls: { cert-fle: /x } } } } }', "unknown key 'kaa.kpc.transports.mqtt.tls.cert-fle' (did you mean 'kaa.kpc.transports.mqtt.tls.cert-file'?)"],
    ['kaa.extension-instances.dcx.endpoint-awar: true', "unknown key 'kaa.extension-instances.dcx.endpoint-awar' (did you mean 'kaa.extension-instances.dcx.endpoint-aware'?)"],
    ['kaa.applications.app.versions.v1.allowed-extensions: [a]', "unknown key 'kaa.applications.app.versions.v1.allowed-extensions' (did you mean 'kaa.applications.app.versions.v1.allowed-extension-instances'?)"],
    ['kaa.applications.app.version.v1.allowed-extension-instances: [a]', "unknown key 'kaa.applications.app.version' (did you mean 'kaa.applications.app.versions'?)"],
    ['something: else', "unknown key 'something'"],
    ['nats.urls: nats://a', "unknown key 'nats'"], // NATS_URLS is set from the environment only,
  ])('%s is refused, naming the key and the closest valid one', (yaml, message) => {
    expect(errorOf(yaml)).toBe(`Invalid configuration: ${message}`);
  });

  it('the example configurations shipped with KPC have none', () => {
    const configMap = readFileSync(join(repoRoot, 'deploy/kubernetes/base/configmap.yaml'), 'utf8');
    const embedded = (parseYaml(configMap) as { data: Record<string, string> }).data['service-config.yml']!;
    for (const yaml of [readFileSync(join(repoRoot, 'dev/service-config.yml'), 'utf8'), readFileSync(join(repoRoot, 'deploy/service-config.yml'), 'utf8'), embedded, FULL_EXAMPLE]) {
      expect(parse(yaml).warnings).toEqual([]);
    }
  });

  it('a KAA_ environment variable that sets no key is a warning naming the closest one; Kubernetes service links are not', () => {
    const { warnings } = parse('', {
      KAA_KPC_AUTHENTICATION_TIMOUT: '3s',
      KAA_KPC_SERVICE_HOST: '10.0.0.1',
      KAA_KPC_PORT_1883_TCP_ADDR: '10.0.0.1',
      OTHER_THING: 'x',
    });
    expect(warnings).toEqual([
      'environment variable KAA_KPC_AUTHENTICATION_TIMOUT sets no configuration key and is ignored (did you mean KAA_KPC_AUTHENTICATION_TIMEOUT?)',
    ]);
  });

  it('an allowed extension instance missing from kaa.extension-instances is a warning naming both', () => {
    const { warnings } = parse('kaa:\n  applications: { app: { versions: { v1: { allowed-extension-instances: [dcx, epr] } } } }\n  extension-instances: { dcx: { endpoint-aware: true } }\n');
    expect(warnings).toEqual([
      "'kaa.applications.app.versions.v1.allowed-extension-instances' names 'epr', which 'kaa.extension-instances' does not list: it is treated as endpoint-unaware",
    ]);
  });
});

describe('configPathFrom', () => {
  const env = { APP_CONFIG_PATH: '/env/config.yml' };

  it('--config FILE and --config=FILE win over APP_CONFIG_PATH', () => {
    expect(configPathFrom(['node', 'main.js', '--config', '/a.yml'], env)).toBe('/a.yml');
    expect(configPathFrom(['node', 'main.js', '--config=/b.yml'], env)).toBe('/b.yml');
    expect(configPathFrom(['--config=/b.yml', '--config', '/c.yml'], env)).toBe('/c.yml');
  });

  it('then APP_CONFIG_PATH, then the default', () => {
    expect(configPathFrom(['node', 'main.js'], env)).toBe('/env/config.yml');
    expect(configPathFrom(['node', 'main.js'], {})).toBe('/srv/kpc/service-config.yml');
    expect(configPathFrom([], { APP_CONFIG_PATH: '' })).toBe('/srv/kpc/service-config.yml');
  });

  it('--config without a value is an error', () => {
    expect(() => configPathFrom(['--config'], {})).toThrow(ConfigError);
    expect(() => configPathFrom(['--config='], {})).toThrow(/'--config'/);
  });
});

describe('loadConfig', () => {
  it('reads the file named on the command line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kpc-config-'));
    try {
      const file = join(dir, 'service-config.yml');
      writeFileSync(file, FULL_EXAMPLE);
      const config = loadConfig(['node', 'main.js', '--config', file], { SERVER_PORT: '9100' });
      expect(config.server.port).toBe(9100);
      expect(config.routing.extensionInstances.dcx).toEqual({ endpointAware: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing file is a ConfigError naming the path', () => {
    expect(() => loadConfig([], { APP_CONFIG_PATH: '/nonexistent/kpc.yml' })).toThrow(
      /Invalid configuration: cannot read the configuration file '\/nonexistent\/kpc\.yml' \(ENOENT\)/,
    );
  });
});
