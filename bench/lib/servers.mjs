// Starting the processes every scenario needs: nats-server (plain, or with its MQTT gateway),
// KPC under test, the bench's own MQTT servers (bridge, acker) and the helper services (dev ECAP
// provider, echo extension), each in its own process so its CPU is its own. Every start is bounded
// and every child is registered for cleanup (bench/lib/children.mjs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitReason, spawnChild, spawnNode, stopChild, waitForLine } from './children.mjs';
import { processTree } from './proc.mjs';

const { findNatsServer } = await import('../../dist-dev/dev/nats-server-process.js');
const { waitForPort } = await import('../../dist-dev/dev/ports.js');
const { getFreePort } = await import('./ports.mjs');
const { waitForHealthy } = await import('../../dist-dev/dev/health.js');

export const START_TIMEOUT_MS = 20_000;
const KPC_STOP_GRACE_MS = 20_000; // it drains and, with --cpu-prof, writes the profile

function natsExecutable() {
  const executable = findNatsServer();
  if (!executable) throw new Error('nats-server not found (PATH, /usr/sbin): sudo apt-get install -y nats-server');
  return executable;
}

export function natsServerVersion() {
  return execFileSync(natsExecutable(), ['--version'], { encoding: 'utf8' }).trim();
}

/**
 * A nats-server on 127.0.0.1. With `mqtt: true` it is nats-server's own MQTT gateway: 2.9.10
 * refuses MQTT without JetStream and without an explicit server_name ("mqtt requires server name
 * to be explicitly set"), so both are in the generated config, JetStream in a temporary directory.
 */
export async function startNatsServer({ label = 'nats-server', mqtt = false, monitor = false } = {}) {
  const port = await getFreePort();
  const monitorPort = monitor ? await getFreePort() : null;
  const mqttPort = mqtt ? await getFreePort() : null;
  const dir = mkdtempSync(join(tmpdir(), 'kpc-bench-nats-'));
  const configFile = join(dir, 'nats.conf');
  writeFileSync(configFile, [
    `server_name: ${mqtt ? 'bench_mqtt_gateway' : 'bench_nats'}`,
    `listen: 127.0.0.1:${port}`,
    'max_payload: 1MB',
    ...(monitor ? [`http: 127.0.0.1:${monitorPort}`] : []),
    ...(mqtt ? [`jetstream { store_dir: "${join(dir, 'jetstream')}" }`, `mqtt { host: 127.0.0.1, port: ${mqttPort} }`] : []),
    '',
  ].join('\n'));
  const child = spawnChild(label, natsExecutable(), ['-c', configFile], { echoStderr: false });
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  try {
    await waitForPort(port, { timeoutMs: START_TIMEOUT_MS, failure: () => exitReason(child) });
    if (mqtt) await waitForPort(mqttPort, { timeoutMs: START_TIMEOUT_MS, failure: () => exitReason(child) });
  } catch (error) {
    await stopChild(child, 2_000);
    throw error;
  }
  return { child, pid: child.pid, url: `nats://127.0.0.1:${port}`, port, mqttPort, monitorUrl: monitor ? `http://127.0.0.1:${monitorPort}` : null, stop: () => stopChild(child, 5_000) };
}

/**
 * KPC as production runs it: `node dist/main.js --config <generated>`, LOG_LEVEL=warn, one
 * application version `bench_v1` allowing the endpoint-aware extension instance `bench`, the
 * connection and authentication limits as given, and the open-file limit raised if allowed.
 * `env` adds environment overrides of other settings (KAA_KPC_…, see README), for experiments;
 * `inspect` opens the inspector on 127.0.0.1 (bench/lib/inspector.mjs: forcing a full GC).
 * `workers` > 1 sets `kaa.kpc.workers` (left out at 1, so builds without the key run too): `pids` then lists the primary and every worker (all of
 * them are KPC's CPU and memory), `pid` stays the primary's.
 */
export async function startKpc({ natsUrl, replicaId, main = 'dist/main.js', profile = null, fileLimit = 65_536, maxInFlight = 1_000, maxConnections = 100_000, maxUnconfirmed = 100_000, env = {}, inspect = false, workers = 1, kpHttp = false }) {
  const [mqttPort, httpPort] = [await getFreePort(), await getFreePort()];
  // 1/KP over HTTP (the `http` scenario): on a port of its own when asked for.
  const kpHttpPort = kpHttp ? await getFreePort() : null;
  const dir = mkdtempSync(join(tmpdir(), 'kpc-bench-'));
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, `service:
  instance:
    replica.id: ${replicaId}
  graceful-shutdown: 10s
server:
  port: ${httpPort}
kaa:
  kpc:
    transports:
      mqtt:
        host: 127.0.0.1
        tcp: { port: ${mqttPort} }
        max-connections: ${maxConnections}${kpHttp ? `
      http: { enabled: true, host: 127.0.0.1, port: ${kpHttpPort} }` : ''}
    authentication:
      max-in-flight: ${maxInFlight}
    max-unconfirmed: ${maxUnconfirmed}
${workers > 1 ? `    workers: ${workers}\n` : ''}  applications:
    bench_app:
      versions:
        bench_v1:
          allowed-extension-instances: [bench]
  extension-instances:
    bench: { endpoint-aware: true }
`);
  const inspectPort = inspect ? await getFreePort() : null;
  // Workers inherit the primary's flags: one --cpu-prof-name for all would overwrite; profile one process only.
  const nodeArgs = [
    ...(profile && workers === 1 ? ['--cpu-prof', '--cpu-prof-dir', profile.dir, '--cpu-prof-name', profile.name] : []),
    ...(inspect ? [`--inspect=127.0.0.1:${inspectPort}`] : []),
  ];
  const child = spawnNode('kpc', main, ['--config', configFile], {
    fileLimit,
    nodeArgs,
    env: { ...env, NATS_URLS: natsUrl, LOG_LEVEL: 'warn' },
    echoStdout: true, // only warnings and errors at this level: worth seeing
  });
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  try {
    await waitForHealthy(`http://127.0.0.1:${httpPort}/health`, { timeoutMs: START_TIMEOUT_MS, intervalMs: 100, failure: () => exitReason(child) });
  } catch (error) {
    await stopChild(child, 2_000);
    throw error;
  }
  // /health is up only once every worker is: they have all been forked by now.
  const pids = processTree(child.pid);
  if (pids.length < (workers > 1 ? workers + 1 : 1)) throw new Error(`KPC with ${workers} workers shows only ${pids.length - 1} child processes`);
  return {
    child, pid: child.pid, pids, workers, port: mqttPort, httpPort, kpHttpPort, inspectPort,
    metricsUrl: `http://127.0.0.1:${httpPort}/metrics`,
    profileFile: profile ? join(profile.dir, profile.name) : null,
    stop: () => stopChild(child, KPC_STOP_GRACE_MS),
  };
}

/** One of the bench's own node servers that prints `READY <port>` (bridge, acker). */
export async function startBenchServer(name, script, args = []) {
  const child = spawnChild(name, process.execPath, [script, '--port', '0', ...args]);
  const [, port] = await waitForLine(child, /^READY (\d+)$/, START_TIMEOUT_MS, `starting ${name}`);
  return { child, pid: child.pid, port: Number(port), stop: () => stopChild(child, 5_000) };
}

/** A helper service in bench/workers/ that prints `READY` once subscribed (ECAP provider, echo extension). */
export async function startWorker(name, script, args) {
  const child = spawnNode(name, script, args);
  await waitForLine(child, /^READY\b/, START_TIMEOUT_MS, `starting ${name}`);
  return { child, pid: child.pid, stop: () => stopChild(child, 5_000) };
}
