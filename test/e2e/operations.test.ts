// What an operator sees (configuration errors, management HTTP, logging rules):
// a bad configuration stops start-up with a message naming the key; /health and /metrics answer
// as documented; logs are JSON, carry one line per connection lifecycle event, and never a
// password or a full token.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killOnExit } from '../../dev/child-cleanup.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { connackCode } from '../support/mqtt-client.js';
import { getFreePort } from '../support/nats-server.js';
import { getHealth, startBackend, tokenTopic, type Backend } from '../support/lifecycle-stack.js';
import { TestClient } from '../support/test-client.js';
import { waitUntil, within } from '../support/waiting.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

let backend: Backend;
let kpc: KpcHandle;

beforeAll(async () => {
  backend = await startBackend({ users: ['metrics-user'], tokens: 2 });
  kpc = await backend.startKpc();
});

afterAll(async () => {
  await backend?.stop();
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
    env: { ...process.env, NATS_URLS: backend.nats.url, LOG_LEVEL: 'debug', ...env },
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

  it('a missing configuration file names the path', async () => {
    const missing = join(tmpdir(), `kpc-no-such-dir-${randomUUID()}`, 'service-config.yml');
    const exit = await runUntilExit(['--config', missing]);
    expect(exit.code, `exit code; stderr:\n${exit.stderr}`).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(exit.stderr).toContain(missing);
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
    const client = await backend.connect(kpc, 'metrics-user');
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
    backend.credentials.users['log-user'] = { password: PASSWORD };
    backend.credentials.tokens[TOKEN] = { endpointId: 'endpoint-secret' };

    const client = await TestClient.connect(kpc.mqttUrl, 'ops-log-ok', { clientId: 'ops-log-ok', username: 'log-user', password: PASSWORD });
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
