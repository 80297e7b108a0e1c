// What an operator sees (configuration errors, management HTTP, logging rules):
// a bad configuration stops start-up with a message naming the key; /health and /metrics answer
// as documented; logs are JSON, carry one line per connection lifecycle event, and never a
// password or a full token.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killOnExit } from '../../dev/child-cleanup.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { getFreePort, startNatsServer } from '../support/nats-server.js';
import { checkMetrics } from '../support/promtool.js';
import { waitUntil, within } from '../support/waiting.js';
import { connackCode, TestClient } from '../support/mqtt.js';
import { getHealth } from '../support/kpc-probes.js';
import { type Stack, startStack, tokenTopic } from '../support/stack.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

let stack: Stack;
let kpc: KpcHandle;

beforeAll(async () => {
  stack = await startStack({ noKpc: true, users: ['metrics-user'], tokens: 2 });
  kpc = await stack.startKpc();
});

afterAll(async () => {
  await stack?.stop();
});

// ---------------------------------------------------------------- configuration errors

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built service with `args` until it exits by itself (bounded: a service that starts is killed). */
async function runUntilExit(args: string[], env: Record<string, string> = {}): Promise<Exit> {
  const child = spawn(process.execPath, [join(repoRoot, 'dist/main.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, NATS_URLS: stack.nats.url, LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // 'close' comes once the process has exited and its output pipes are drained.
  const closed = new Promise<number | null>((resolveClose) => child.once('close', (code) => resolveClose(code)));
  try {
    const code = await within(closed, 10_000, `KPC exiting by itself (it is still running; output so far:\n${stdout}${stderr})`);
    return { code, stdout, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** A valid configuration (free ports, the test routing) with `path` set to `value`, written to a temp file. */
async function configFileWith(path: string, value: unknown): Promise<string> {
  const config: Record<string, unknown> = {
    server: { port: await getFreePort() },
    kaa: {
      kpc: { transports: { mqtt: { tcp: { port: await getFreePort() } } } },
      applications: { demo_application: { versions: { demo_application_v1: { 'allowed-extension-instances': ['echo'] } } } },
      'extension-instances': { echo: { 'endpoint-aware': true } },
    },
  };
  if (path !== '') {
    const keys = path.split('.');
    let node = config;
    for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[keys.at(-1)!] = value;
  }
  const file = join(tmpdir(), `kpc-ops-test-${randomUUID()}.yml`);
  writeFileSync(file, toYaml(config));
  return file;
}

async function runWithConfig(path: string, value: unknown, env: Record<string, string> = {}): Promise<Exit> {
  const file = await configFileWith(path, value);
  try {
    return await runUntilExit(['--config', file], env);
  } finally {
    rmSync(file, { force: true });
  }
}

describe('configuration errors stop start-up with a message naming the key', () => {
  it.each([
    ['a wrong type', 'kaa.kpc.transports.mqtt.tcp.port', 'abc'],
    ['a port out of range', 'kaa.kpc.transports.mqtt.tcp.port', 70_000],
    ['a duration that is not one', 'service.graceful-shutdown', 'soon'],
    ['a boolean that is not one', 'kaa.kpc.authentication.allow-anonymous', 'maybe'],
    ['an instance name that breaks NATS subjects', 'service.instance.name', 'kpc.one'],
  ])('%s (%s: %j)', async (_case, path, value) => {
    const exit = await runWithConfig(path, value);
    expect(exit.code, `exit code; stderr:\n${exit.stderr}`).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(exit.stderr).toContain(path);
  });

  it('an invalid environment override names the key or the variable', async () => {
    const exit = await runWithConfig('', undefined, { KAA_KPC_TRANSPORTS_MQTT_TCP_PORT: 'abc' });
    expect(exit.code, `exit code; stderr:\n${exit.stderr}`).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(exit.stderr).toMatch(/kaa\.kpc\.transports\.mqtt\.tcp\.port|KAA_KPC_TRANSPORTS_MQTT_TCP_PORT/);
  });

  /** Exit 2 with the failure on one line naming `key`, and no stack trace anywhere. */
  function expectOneLineNaming(exit: Exit, ...texts: string[]): void {
    expect(exit.code, `exit code; output:\n${exit.stdout}${exit.stderr}`).toBe(2);
    const lines = `${exit.stdout}${exit.stderr}`.split('\n').filter((line) => texts.every((text) => line.includes(text)));
    expect(lines).toHaveLength(1);
    expect(`${exit.stdout}${exit.stderr}`).not.toMatch(/\n\s+at |"stack"/);
  }

  it('an unknown key: exit 2 naming it and the closest valid key', async () => {
    expectOneLineNaming(await runWithConfig('server.prot', 9000), "unknown key 'server.prot' (did you mean 'server.port'?)");
    expectOneLineNaming(await runWithConfig('kaa.kpc.authentication.timout', '3s'), "(did you mean 'kaa.kpc.authentication.timeout'?)");
  });

  it('a TLS certificate file that does not exist: exit 2 naming the key and the path', async () => {
    const missing = join(tmpdir(), `kpc-no-such-cert-${randomUUID()}.pem`);
    const exit = await runWithConfig('kaa.kpc.transports.mqtt.tls', { enabled: true, 'cert-file': missing, 'key-file': missing });
    expectOneLineNaming(exit, "'kaa.kpc.transports.mqtt.tls.cert-file'", missing, 'ENOENT');
  });

  it('a NATS credentials file that does not exist: exit 2 naming the key and the path', async () => {
    const missing = join(tmpdir(), `kpc-no-such-creds-${randomUUID()}.creds`);
    expectOneLineNaming(await runWithConfig('kaa.kpc.nats.creds-file', missing), "'kaa.kpc.nats.creds-file'", missing);
  });

  it.each([
    ['server.port', (port: number) => ({ path: 'server.port', value: port })],
    ['kaa.kpc.transports.mqtt.tcp.port', (port: number) => ({ path: 'kaa.kpc.transports.mqtt.tcp.port', value: port })],
  ])('a busy port: exit 2 naming %s and the address', async (key, setting) => {
    const busy = createServer();
    await new Promise<void>((resolveListen) => busy.listen(0, '0.0.0.0', resolveListen));
    const port = (busy.address() as AddressInfo).port;
    try {
      const { path, value } = setting(port);
      expectOneLineNaming(await runWithConfig(path, value), `'${key}': cannot listen on 0.0.0.0:${port} (EADDRINUSE)`);
    } finally {
      busy.close();
    }
  });

  it('with workers, a busy MQTT port stops the primary too: exit 2 naming the key, not a worker restarted forever', async () => {
    const busy = createServer();
    await new Promise<void>((resolveListen) => busy.listen(0, '0.0.0.0', resolveListen));
    const port = (busy.address() as AddressInfo).port;
    try {
      const exit = await runWithConfig('kaa.kpc.transports.mqtt.tcp.port', port, { KAA_KPC_WORKERS: '2' });
      expect(exit.code, `exit code; output:\n${exit.stdout}${exit.stderr}`).toBe(2);
      expect(`${exit.stdout}${exit.stderr}`).toContain(`'kaa.kpc.transports.mqtt.tcp.port': cannot listen on 0.0.0.0:${port} (EADDRINUSE)`);
    } finally {
      busy.close();
    }
  });

  it('a missing configuration file names the path', async () => {
    const missing = join(tmpdir(), `kpc-no-such-dir-${randomUUID()}`, 'service-config.yml');
    const exit = await runUntilExit(['--config', missing]);
    expect(exit.code, `exit code; stderr:\n${exit.stderr}`).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(exit.stderr).toContain(missing);
  });
});

/** The paths the Dockerfile's HEALTHCHECK and the Kubernetes Deployment's livenessProbe request. */
function livenessPathsShipped(): string[] {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const healthcheck = /HEALTHCHECK[^]*?http:\/\/127\.0\.0\.1:8008(\/[^'"]*)/.exec(dockerfile)?.[1];
  const deployment = parseYaml(readFileSync(join(repoRoot, 'deploy/kubernetes/base/deployment.yaml'), 'utf8')) as {
    spec: { template: { spec: { containers: Array<{ livenessProbe?: { httpGet?: { path?: string } } }> } } };
  };
  const probe = deployment.spec.template.spec.containers[0]?.livenessProbe?.httpGet?.path;
  expect([healthcheck, probe]).not.toContain(undefined);
  return [healthcheck!, probe!];
}

describe('configuration warnings', () => {
  it('an allowed extension instance missing from kaa.extension-instances and an unknown KAA_ variable: one warning line each, and KPC starts', async () => {
    const allowed = ['echo', 'echo-unaware', 'ghost'];
    const warned = await stack.startKpc({
      config: { kaa: { applications: { demo_application: { versions: { demo_application_v1: { 'allowed-extension-instances': allowed } } } } } },
      env: { KAA_KPC_AUTHENTICATION_TIMOUT: '3s' },
    });
    const warnings = warned.logs.filter((line) => line.includes('"config.warning"')).map((line) => JSON.parse(line) as { level: string; msg: string });
    expect(warnings.map(({ level, msg }) => [level, msg])).toEqual([
      ['warn', 'environment variable KAA_KPC_AUTHENTICATION_TIMOUT sets no configuration key and is ignored (did you mean KAA_KPC_AUTHENTICATION_TIMEOUT?)'],
      ['warn', "'kaa.applications.demo_application.versions.demo_application_v1.allowed-extension-instances' names 'ghost', which 'kaa.extension-instances' does not list: it is treated as endpoint-unaware"],
    ]);
    await warned.stop();
  });
});

describe('NATS lost after start', () => {
  it('each reconnect attempt is reported (rate limited) until NATS is back', async () => {
    const nats = await startNatsServer();
    const kpc = await stack.startKpc({ natsUrls: [nats.url] });
    try {
      await nats.stop();
      await kpc.waitForLog('nats.disconnected');
      expect(JSON.parse(await kpc.waitForLog('"nats.unreachable"'))).toMatchObject({ level: 'warn', attempts: 1, server: `127.0.0.1:${nats.port}` });
      await nats.restart();
      await kpc.waitForLog('nats.reconnected', 15_000);
    } finally {
      await kpc.stop();
      await nats.stop();
    }
  });
});

describe('NATS unreachable at start', () => {
  it('every failed attempt is reported with its reason, several attempts per line (rate limited)', async () => {
    const waiting = await stack.startKpc({ natsUrls: [`nats://127.0.0.1:${await getFreePort()}`], expectHealthy: false });
    const unreachable = () => waiting.logs.filter((line) => line.includes('"nats.unreachable"')).map((line) => JSON.parse(line) as { reason: string; attempts: number });
    const first = JSON.parse(await waiting.waitForLog('nats.unreachable')) as { reason: string; attempts: number };
    expect(first).toMatchObject({ level: 'warn', attempts: 1, reason: expect.stringMatching(/CONNECTION_REFUSED/) });
    // Attempts go on every half second; the next line sums up those made since the first one.
    const second = await waitUntil(() => unreachable()[1], 'a second nats.unreachable line', { timeoutMs: 15_000 });
    expect(second.attempts).toBeGreaterThan(1);
    // Probes meanwhile: not ready, but alive (a restart would not bring NATS back).
    expect((await fetch(`${waiting.httpUrl}/health`)).status).toBe(500);
    const live = await fetch(`${waiting.httpUrl}/health/live`);
    expect([live.status, await live.json()]).toEqual([200, { status: 'UP' }]);
    // The liveness checks as shipped probe that path (or another that answers 200 now).
    for (const path of livenessPathsShipped()) expect((await fetch(`${waiting.httpUrl}${path}`)).status, path).toBe(200);
    await waiting.stop();
  });
});

// ---------------------------------------------------------------- management HTTP

describe('management HTTP', () => {
  it('/health answers 200 {"status":"UP"} when the service is up', async () => {
    const health = await getHealth(kpc);
    expect(health.status).toBe(200);
    // Extra detail (e.g. per-component status) is allowed; `status` is what probes read.
    expect(JSON.parse(health.body)).toMatchObject({ status: 'UP' });
  });

  it('/metrics is Prometheus text with kpc_ names, default Node metrics and no per-client labels', async () => {
    // Traffic first, so that per-client labels would show if there were any.
    const client = await stack.connect(kpc, 'metrics-user');
    const answer = await client.request(tokenTopic('token-1', 'data', 1), 'metrics');
    expect(answer.topic).toBe(`${tokenTopic('token-1', 'data', 1)}/status`);
    await client.request(tokenTopic('no-such-token', 'data', 2), 'refused token'); // a 1/KP error
    expect(await connackCode(kpc.mqttUrl, { clientId: 'metrics-refused', username: 'metrics-user', password: 'wrong' })).toBe(4);

    const response = await fetch(`${kpc.httpUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const lines = (await response.text()).split('\n').filter((line) => line.trim() !== '');

    const names = lines.map((line) => (line.startsWith('#') ? line.split(' ')[2] : /^[a-zA-Z_:][\w:]*/.exec(line)?.[0]));
    expect(names.filter((name) => !name?.startsWith('kpc_'))).toEqual([]);
    expect(names).toContain('kpc_process_cpu_user_seconds_total');

    const labelValues = lines
      .filter((line) => !line.startsWith('#'))
      .flatMap((line) => [...(/\{(.*)\}/.exec(line)?.[1] ?? '').matchAll(/\w+="((?:[^"\\]|\\.)*)"/g)].map((match) => match[1]));
    const perClient = [client.name, 'metrics-refused', 'metrics-user', 'client-metrics-user', 'cred-metrics-user', 'endpoint-1', 'token-1', 'tokid-token-1', 'no-such-token'];
    expect(labelValues.filter((value) => perClient.includes(value!))).toEqual([]);
    await client.end();
  });
});

// The exposition as a scraper sees it: `promtool check metrics` (format and naming rules), the
// latency histograms, build info and slow-consumer counter, and every family exported from the first
// moment, before NATS is reachable, so dashboards and alert rules never meet a missing family.
const scrape = async (target: KpcHandle): Promise<string> => (await fetch(`${target.httpUrl}/metrics`)).text();

/** The metric family names an exposition declares (its `# TYPE` lines). */
const families = (text: string): string[] => [...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!).sort();

/** The value of the one sample line that starts with `series` (name and labels as printed). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics for Prometheus (promtool, histograms, every family from the start)', () => {
  it('passes promtool check metrics after traffic (no complaint at all)', async () => {
    const client = await stack.connect(kpc, 'metrics-user');
    await client.request(tokenTopic('token-1', 'data', 1), 'metrics');
    expect(await connackCode(kpc.mqttUrl, { clientId: 'metrics-refused', username: 'metrics-user', password: 'wrong' })).toBe(4);
    await client.end();

    const { code, output } = await checkMetrics(await scrape(kpc));
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('has authentication and extension-reply latency histograms, build info and a slow-consumer counter', async () => {
    const client = await stack.connect(kpc, 'metrics-user');
    await client.request(tokenTopic('token-1', 'data', 2), 'latency');
    await client.end();
    const text = await scrape(kpc);

    expect(sample(text, 'kpc_authentication_duration_seconds_count{transport="tcp",outcome="accepted"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'kpc_authentication_duration_seconds_bucket{le="10",transport="tcp",outcome="accepted"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'kpc_extension_reply_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^kpc_build_info\{version="\d+\.\d+\.\d+",nodejs="[\d.]+",nats_client="[\d.]+"\} 1$/m);
    expect(sample(text, 'kpc_slow_consumers_total')).toBe(0);
    expect(families(text)).not.toContain('kpc_nodejs_active_handles_total');
  });

  it('exports every family before NATS is reachable, the same families as a running replica', async () => {
    const waiting = await stack.startKpc({ natsUrls: [`nats://127.0.0.1:${await getFreePort()}`], expectHealthy: false });
    const early = await waitUntil(() => scrape(waiting).catch(() => undefined), 'the waiting KPC answering /metrics');
    expect(sample(early, 'kpc_nats_connected')).toBe(0);
    expect(families(early)).toEqual(families(await scrape(kpc)));
    expect((await checkMetrics(early)).output).toBe('');
  });
});

// ---------------------------------------------------------------- logs

describe('logs', () => {
  const PASSWORD = 'very-secret-password-123';
  const WRONG_PASSWORD = 'wrong-secret-password-456';
  const TOKEN = 'token-secret-xyz-789';
  const UNKNOWN_TOKEN = 'token-unknown-secret-321';

  /** KPC's log lines that are JSON objects (pino writes one per line). */
  const jsonLogs = (): Array<Record<string, unknown>> =>
    kpc.logs.flatMap((line) => {
      try {
        const parsed: unknown = JSON.parse(line);
        return typeof parsed === 'object' && parsed !== null ? [parsed as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  const linesFor = (event: string, mqttClientId: string) => jsonLogs().filter((entry) => entry.event === event && entry.mqttClientId === mqttClientId);

  it('carry one JSON line per connection lifecycle event, and never a password or a full token', async () => {
    stack.credentials.users['log-user'] = { password: PASSWORD };
    stack.credentials.tokens[TOKEN] = { endpointId: 'endpoint-secret' };

    const client = await TestClient.connect(kpc.mqttUrl, { clientId: 'ops-log-ok', username: 'log-user', password: PASSWORD });
    const known = await client.request(tokenTopic(TOKEN, 'data', 1), 'with a known token');
    expect(known.topic).toBe(`${tokenTopic(TOKEN, 'data', 1)}/status`);
    const unknown = await client.request(tokenTopic(UNKNOWN_TOKEN, 'data', 2), 'with an unknown token');
    expect(unknown.topic).toBe(`${tokenTopic(UNKNOWN_TOKEN, 'data', 2)}/error`);
    expect(await connackCode(kpc.mqttUrl, { clientId: 'ops-log-bad', username: 'log-user', password: WRONG_PASSWORD })).toBe(4);
    await client.end();
    await waitUntil(() => linesFor('connection.closed', 'ops-log-ok').length > 0, 'a connection.closed log line for ops-log-ok', {
      detail: () => kpc.logs.slice(-20).join('\n'),
    });

    for (const secret of [PASSWORD, WRONG_PASSWORD, TOKEN, UNKNOWN_TOKEN]) {
      expect(kpc.logs.filter((line) => line.includes(secret)), `log lines containing ${secret}`).toEqual([]);
    }
    expect(linesFor('connection.accepted', 'ops-log-ok')).toHaveLength(1);
    expect(linesFor('connection.closed', 'ops-log-ok')).toHaveLength(1);
    expect(linesFor('connection.refused', 'ops-log-bad')).toHaveLength(1);
    expect(linesFor('connection.accepted', 'ops-log-bad')).toEqual([]);
  });
});
