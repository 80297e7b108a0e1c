// `npm run fuzz [-- --seconds 60 --seed N --concurrency 16]`: the fuzzer of test/e2e/fuzz.test.ts
// (test/support/mqtt-fuzzer.mjs), run for longer against a throw-away stack on 127.0.0.1: a
// nats-server, the dev ECAP provider, two echo extensions and the BUILT KPC (dist/main.js). Prints
// the seed and the counts; exits 1 if KPC died, went unhealthy, stopped serving a good client,
// kept sessions of closed connections, had a session actor fail, or logged an error.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { killOnExit, terminate } from '../dist-dev/dev/child-cleanup.js';
import { DevEcapProvider } from '../dist-dev/dev/ecap-provider.js';
import { EchoExtension } from '../dist-dev/dev/echo-extension.js';
import { waitForHealthy } from '../dist-dev/dev/health.js';
import { startNatsServer } from '../dist-dev/dev/nats-server-process.js';
import { getFreePort } from '../dist-dev/dev/ports.js';
import { formatStats, goodRequest, randomSeed, runFuzz } from '../test/support/mqtt-fuzzer.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const APP = 'demo_application';
const APP_VERSION = 'demo_application_v1';
const CREDENTIALS = { username: 'fuzz-device', password: 'fuzz-secret' };

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log('usage: npm run fuzz -- [--seconds 60] [--seed N] [--concurrency 16]');
  process.exit(0);
}
const seconds = Number(args.seconds);
const concurrency = Number(args.concurrency);
const seed = args.seed === undefined ? randomSeed() : Number(args.seed) >>> 0;
if (!(seconds > 0) || !(concurrency > 0) || Number.isNaN(seed)) {
  console.error('fuzz: --seconds and --concurrency must be positive numbers, --seed an integer');
  process.exit(2);
}

const quiet = { info: () => {}, warn: () => {} };
const cleanups = [];
const log = (...parts) => console.log('[fuzz]', ...parts);

async function startKpc(natsUrl) {
  const [mqttPort, httpPort] = [await getFreePort(), await getFreePort()];
  const replicaId = `fuzz-${randomBytes(4).toString('hex')}`;
  const config = {
    service: { instance: { replica: { id: replicaId } }, 'graceful-shutdown': 5 },
    server: { port: httpPort },
    kaa: {
      kpc: {
        transports: { mqtt: { host: '127.0.0.1', tcp: { port: mqttPort }, 'connect-timeout': '1s', 'max-packet-bytes': '256KiB' } },
        authentication: { timeout: '1s' },
      },
      applications: { [APP]: { versions: { [APP_VERSION]: { 'allowed-extension-instances': ['echo', 'echo-unaware'] } } } },
      'extension-instances': { echo: { 'endpoint-aware': true }, 'echo-unaware': { 'endpoint-aware': false } },
    },
  };
  const configPath = join(tmpdir(), `kpc-fuzz-${replicaId}.yml`);
  writeFileSync(configPath, toYaml(config));
  cleanups.push(async () => rmSync(configPath, { force: true }));

  const child = spawn(process.execPath, [join(repoRoot, 'dist/main.js'), '--config', configPath], {
    cwd: repoRoot,
    env: { ...process.env, NATS_URLS: natsUrl, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  cleanups.push(() => terminate(child, 'SIGTERM', 10_000));
  const recent = [];
  const problems = [];
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      for (const line of lines) {
        recent.push(line);
        if (recent.length > 50) recent.shift();
        if (/"level":"(error|fatal)"/.test(line) && problems.length < 20) problems.push(line);
      }
    });
  }
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  await waitForHealthy(`http://127.0.0.1:${httpPort}/health`, {
    timeoutMs: 15_000,
    failure: () => (exited() ? `KPC exited (${child.exitCode ?? child.signalCode}) before it became healthy:\n${recent.join('\n')}` : undefined),
  });
  return { mqttPort, httpUrl: `http://127.0.0.1:${httpPort}`, child, exited, recent, errorLines: problems };
}

async function metric(httpUrl, name) {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

async function waitFor(what, condition, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`gave up after ${timeoutMs} ms waiting for ${what}`);
  return false;
}

async function main() {
  log(`seed ${seed} (reproduce: npm run fuzz -- --seed ${seed} --seconds ${seconds}), ${seconds} s, ${concurrency} connections at a time`);
  const nats = await startNatsServer();
  cleanups.push(() => nats.stop());
  const credentials = {
    users: { [CREDENTIALS.username]: { password: CREDENTIALS.password } },
    tokens: { 'tok-1': { endpointId: 'fuzz-endpoint-1' }, fuzz: { endpointId: 'fuzz-endpoint-2' } },
    certificates: {},
  };
  const provider = new DevEcapProvider({ natsUrls: nats.url, credentials, logger: quiet });
  const echo = new EchoExtension({ natsUrls: nats.url, instanceName: 'echo', logger: quiet });
  const echoUnaware = new EchoExtension({ natsUrls: nats.url, instanceName: 'echo-unaware', logger: quiet });
  await Promise.all([provider.start(), echo.start(), echoUnaware.start()]);
  cleanups.push(() => Promise.all([provider.stop(), echo.stop(), echoUnaware.stop()]));
  const kpc = await startKpc(nats.url);
  log(`KPC pid ${kpc.child.pid}, MQTT 127.0.0.1:${kpc.mqttPort}, HTTP ${kpc.httpUrl}`);

  const stats = await runFuzz({
    target: { port: kpc.mqttPort, credentials: CREDENTIALS, appVersion: APP_VERSION, extensions: ['echo', 'echo-unaware', 'not-allowed'] },
    seed,
    durationMs: seconds * 1_000,
    concurrency,
    shouldStop: kpc.exited,
    onProgress: (s) => log(`${s.cases} connections, ${s.packetsSent} packets so far`),
  });
  console.log(formatStats(stats));

  const failures = [];
  if (kpc.exited()) failures.push(`KPC exited during fuzzing (code ${kpc.child.exitCode}, signal ${kpc.child.signalCode})`);
  else {
    const health = await fetch(`${kpc.httpUrl}/health`).catch((error) => ({ status: `unreachable: ${error.message}` }));
    if (health.status !== 200) failures.push(`/health answered ${health.status}`);
    const problem = await goodRequest({ port: kpc.mqttPort, credentials: CREDENTIALS, topic: `kp1/${APP_VERSION}/echo-unaware/after-fuzz/1` });
    if (problem !== null) failures.push(`a good client could not complete a request: ${problem}`);
    if (!(await waitFor('kpc_connections_open to return to 0', async () => (await metric(kpc.httpUrl, 'kpc_connections_open')) === 0, 10_000))) {
      failures.push(`sessions left open after every fuzz connection closed: kpc_connections_open = ${await metric(kpc.httpUrl, 'kpc_connections_open')}`);
    }
    const actorFailures = await metric(kpc.httpUrl, 'kpc_session_actor_failures_total');
    if (actorFailures) failures.push(`kpc_session_actor_failures_total = ${actorFailures}`);
  }
  if (stats.unparseableReplies > 0) failures.push(`KPC sent ${stats.unparseableReplies} replies that are not MQTT`);
  if (kpc.errorLines.length > 0) failures.push(`KPC logged errors:\n${kpc.errorLines.join('\n')}`);

  if (failures.length === 0) {
    log(`PASS: KPC alive, healthy, serving, no leftover sessions (seed ${seed})`);
    return 0;
  }
  log(`FAIL (seed ${seed}):\n- ${failures.join('\n- ')}`);
  log(`last cases:\n${stats.recent.join('\n')}`);
  log(`last KPC log lines:\n${kpc.recent.join('\n')}`);
  return 1;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error('[fuzz] could not run:', error);
} finally {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
}
process.exit(code);
