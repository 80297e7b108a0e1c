// Runs the BUILT service (dist/main.js, built by `npm test`'s pretest) as a child process, the way
// it runs in production: own config file, own ports, NATS_URLS in the environment. Set
// KPC_TEST_LOGS=1 to see its output while tests run.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify as toYaml } from 'yaml';
import { getFreePort } from '../../dev/ports.js';
import { waitForHealthy } from '../../dev/health.js';
import { killOnExit, terminate } from '../../dev/child-cleanup.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Generated config files not yet deleted; the exit hook takes care of those of killed children. */
const configFiles = new Set<string>();
process.once('exit', () => configFiles.forEach((file) => rmSync(file, { force: true })));
function removeConfigFile(file: string): void {
  rmSync(file, { force: true });
  configFiles.delete(file);
}

export interface KpcHandle {
  mqttPort: number;
  httpPort: number;
  mqttUrl: string;
  httpUrl: string;
  /** 1/KP over HTTP (`kaa.kpc.transports.http.port`; the transport is off unless the config enables it). */
  kpHttpUrl: string;
  replicaId: string;
  /** Raw stdout and stderr lines, in arrival order. */
  logs: string[];
  process: ChildProcess;
  /** The generated YAML config; deleted when the process exits. */
  configPath: string;
  /** Sends `signal` (default SIGTERM; SIGKILL after 20 s) and resolves with the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the first log line, past or future, that matches (default timeout 10 s). */
  waitForLog(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
}

export interface StartKpcOptions {
  natsUrls: string[];
  /** Deep-merged over the default test config (mappings merge, anything else replaces; `undefined` deletes a key). */
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Wait until GET /health answers 200 (default true). */
  expectHealthy?: boolean;
}

type ConfigTree = Record<string, unknown>;

function defaultTestConfig(mqttPort: number, httpPort: number, kpHttpPort: number, replicaId: string): ConfigTree {
  return {
    service: { instance: { replica: { id: replicaId } } },
    server: { port: httpPort },
    kaa: {
      kpc: {
        transports: { mqtt: { tcp: { port: mqttPort } }, http: { port: kpHttpPort } },
        authentication: { timeout: '1s' },
      },
      applications: {
        demo_application: { versions: { demo_application_v1: { 'allowed-extension-instances': ['echo', 'echo-unaware'] } } },
      },
      'extension-instances': {
        echo: { 'endpoint-aware': true },
        'echo-unaware': { 'endpoint-aware': false },
      },
    },
  };
}

function isTree(value: unknown): value is ConfigTree {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

export function deepMerge(base: ConfigTree, override: ConfigTree): ConfigTree {
  const result: ConfigTree = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === undefined) delete result[key];
    else result[key] = isTree(value) && isTree(result[key]) ? deepMerge(result[key] as ConfigTree, value) : value;
  }
  return result;
}

function path(tree: ConfigTree, ...keys: string[]): unknown {
  return keys.reduce<unknown>((node, key) => (isTree(node) ? node[key] : undefined), tree);
}

/** Splits a stream into lines and hands each one over (a final line without newline included). */
function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const line of parts) onLine(line);
  });
  stream.on('end', () => {
    if (partial) onLine(partial);
    partial = '';
  });
}

export async function startKpc(opts: StartKpcOptions): Promise<KpcHandle> {
  const mainJs = join(repoRoot, 'dist/main.js');
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: run \`npm run build\` (\`npm test\` builds first)`);

  const defaults = defaultTestConfig(await getFreePort(), await getFreePort(), await getFreePort(), `test-${randomBytes(6).toString('hex')}`);
  const config = deepMerge(defaults, opts.config ?? {});
  const mqttPort = Number(path(config, 'kaa', 'kpc', 'transports', 'mqtt', 'tcp', 'port'));
  const httpPort = Number(path(config, 'server', 'port'));
  const kpHttpPort = Number(path(config, 'kaa', 'kpc', 'transports', 'http', 'port'));
  const replicaId = String(path(config, 'service', 'instance', 'replica', 'id'));
  const configPath = join(tmpdir(), `kpc-test-${replicaId}-${process.pid}.yml`);
  writeFileSync(configPath, toYaml(config));
  configFiles.add(configPath);

  const child = spawn(process.execPath, [mainJs, '--config', configPath], {
    cwd: repoRoot,
    env: { ...process.env, NATS_URLS: opts.natsUrls.join(','), LOG_LEVEL: 'debug', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  child.once('exit', () => removeConfigFile(configPath));

  const logs: string[] = [];
  const lineListeners = new Set<(line: string) => void>();
  const onLine = (line: string) => {
    logs.push(line);
    if (process.env.KPC_TEST_LOGS) process.stderr.write(`[kpc ${replicaId}] ${line}\n`);
    for (const listener of [...lineListeners]) listener(line);
  };
  forEachLine(child.stdout!, onLine);
  forEachLine(child.stderr!, onLine);
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));
  // 'close' comes after 'exit' once the output pipes are drained: the last lines are in `logs` then.
  const outputClosed = new Promise<void>((resolveClosed) => child.once('close', () => resolveClosed()));

  const recentLogs = () => `--- last 30 log lines of KPC ${replicaId} ---\n${logs.slice(-30).join('\n')}`;
  const matches = (pattern: RegExp | string, line: string) => (typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line));

  const handle: KpcHandle = {
    mqttPort,
    httpPort,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    kpHttpUrl: `http://127.0.0.1:${kpHttpPort}`,
    replicaId,
    logs,
    process: child,
    configPath,
    async stop(signal = 'SIGTERM') {
      return terminate(child, signal, 20_000);
    },
    waitForLog(pattern, timeoutMs = 10_000) {
      const earlier = logs.find((line) => matches(pattern, line));
      if (earlier !== undefined) return Promise.resolve(earlier);
      return new Promise((resolvePromise, reject) => {
        const listener = (line: string) => {
          if (!matches(pattern, line)) return;
          lineListeners.delete(listener);
          clearTimeout(timer);
          resolvePromise(line);
        };
        const timer = setTimeout(() => {
          lineListeners.delete(listener);
          reject(new Error(`no KPC log line matched ${String(pattern)} within ${timeoutMs} ms\n${recentLogs()}`));
        }, timeoutMs);
        lineListeners.add(listener);
      });
    },
  };

  if (opts.expectHealthy ?? true) {
    try {
      await waitForHealthy(`${handle.httpUrl}/health`, {
        timeoutMs: 15_000,
        intervalMs: 50,
        failure: () => {
          if (spawnError) return `KPC could not be started: ${spawnError.message}`;
          if (child.exitCode !== null || child.signalCode !== null) return `KPC exited (${child.exitCode ?? child.signalCode}) before it became healthy`;
          return undefined;
        },
      });
    } catch (error) {
      await terminate(child, 'SIGKILL');
      await Promise.race([outputClosed, sleep(1_000)]);
      throw new Error(`${(error as Error).message}\n${recentLogs()}`);
    }
  }
  return handle;
}
