// `npm run bench`: KPC against the floor its design adds cost to (bench/bare-bridge.mjs: aedes →
// NATS, nothing else), under the same closed-loop QoS 1 load, in alternating rounds so that the
// machine's drifting noise hits both alike; medians over rounds. One round against a trivial acker
// (bench/acker.mjs) shows the load generator's own ceiling.
//
//   node bench/run.mjs [--clients 100] [--inflight 4] [--seconds 10] [--warmup 2] [--rounds 3]
//                      [--payload 100] [--qos 1 | --qos 0 --rate MSG_PER_S (0 = max)] [--profile]
//                      [--kpc-main dist/main.js]
//
// --profile runs KPC with --cpu-prof (bench/results/profiles/) and prints its top functions;
// profiling slows KPC, so take throughput figures from a run without it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot, resultsDir } from './lib/paths.mjs';

if (!existsSync(join(repoRoot, 'dist/main.js'))) {
  console.error('dist/ is missing: run `npm run build` first (`npm run bench` does)');
  process.exit(1);
}
const { connect } = await import('nats');
const { DevEcapProvider } = await import('../dist/dev/ecap-provider.js');
const { findNatsServer } = await import('../dist/dev/nats-server-process.js');
const { getFreePort, waitForPort } = await import('../dist/dev/ports.js');
const { waitForHealthy } = await import('../dist/dev/health.js');
const { exitReason, spawnChild, stopAllChildren, stopChild, waitForLine } = await import('./lib/children.mjs');
const { median } = await import('./lib/stats.mjs');
const { withTimeout } = await import('./lib/timeout.mjs');
const { profileMarkdown, summarizeProfile } = await import('./profile-summary.mjs');

const SUBJECT = 'kaa.v1.service.bench.esp.ClientData';
const START_TIMEOUT_MS = 20_000;
const KPC_STOP_GRACE_MS = 20_000; // it drains and, with --profile, writes the profile
const { values: opts } = parseArgs({
  options: {
    clients: { type: 'string', default: '100' },
    inflight: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    payload: { type: 'string', default: '100' },
    qos: { type: 'string', default: '1' },
    rate: { type: 'string', default: '0' },
    profile: { type: 'boolean', default: false },
    'kpc-main': { type: 'string', default: 'dist/main.js' }, // another build to compare, e.g. a patched copy
  },
});
const clients = Number(opts.clients);
const qos = Number(opts.qos);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const profileDir = join(resultsDir, 'profiles');
const command = process.env.npm_lifecycle_event === 'bench'
  ? `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
  : `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim();

// Everything that must be stopped, newest first; run on success, error and Ctrl-C alike.
const teardown = [];
let cleaning;
function cleanUp() {
  // Once only; a second caller (main's error path after Ctrl-C) waits for the same cleanup.
  cleaning ??= (async () => {
    // Targets and generator first, while NATS still runs (KPC drains into it); nats-server last.
    await stopAllChildren((child) => child.label !== 'nats-server');
    for (const step of teardown.reverse()) await withTimeout(step(), 10_000, 'cleanup step').catch((error) => console.error(`cleanup: ${error.message}`));
    await stopAllChildren();
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping every child process`);
    withTimeout(cleanUp(), 15_000, 'cleanup').finally(() => process.exit(130));
  });
}

// ---- the fixed parts: nats-server, credential provider, ClientData counter -------------------

async function startNats() {
  const executable = findNatsServer();
  if (!executable) throw new Error('nats-server not found (PATH, /usr/sbin): sudo apt-get install -y nats-server');
  const port = await getFreePort();
  const child = spawnChild('nats-server', executable, ['-a', '127.0.0.1', '-p', String(port)], { echoStderr: false });
  await waitForPort(port, { timeoutMs: START_TIMEOUT_MS, failure: () => exitReason(child) });
  teardown.push(() => stopChild(child, 5_000));
  const version = execFileSync(executable, ['--version'], { encoding: 'utf8' }).trim();
  return { url: `nats://127.0.0.1:${port}`, pid: child.pid, version };
}

/** The credentials each load-generator client i uses: bench-i / pw-i, token-i → endpoint-i. */
function benchCredentials(count) {
  const credentials = { users: {}, tokens: {} };
  for (let i = 0; i < count; i++) {
    credentials.users[`bench-${i}`] = { password: `pw-${i}` };
    credentials.tokens[`token-${i}`] = { endpointId: `endpoint-${i}` };
  }
  return credentials;
}

async function startCounter(natsUrl) {
  const nc = await withTimeout(connect({ servers: natsUrl, name: 'bench counter' }), 10_000, 'connecting the ClientData counter');
  teardown.push(() => nc.close());
  const counter = { received: 0 };
  nc.subscribe(SUBJECT, { callback: () => counter.received++ });
  await nc.flush();
  return counter;
}

// ---- the targets --------------------------------------------------------------------------------

const loadAuth = { username: 'bench-{i}', password: 'pw-{i}', topic: 'kp1/bench_v1/bench/token-{i}/data' };

async function startKpc(nats, round) {
  const [mqttPort, httpPort] = [await getFreePort(), await getFreePort()];
  const dir = mkdtempSync(join(tmpdir(), 'kpc-bench-'));
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, `service:
  instance:
    replica.id: bench-${round}
  graceful-shutdown: 10s
server:
  port: ${httpPort}
kaa:
  kpc:
    transports:
      mqtt:
        host: 127.0.0.1
        tcp: { port: ${mqttPort} }
    max-unconfirmed: 100000
  applications:
    bench_app:
      versions:
        bench_v1:
          allowed-extension-instances: [bench]
  extension-instances:
    bench: { endpoint-aware: true }
`);
  const profiling = opts.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `kpc-${stamp}-round${round}.cpuprofile`] : [];
  const child = spawnChild('kpc', process.execPath, [...profiling, opts['kpc-main'], '--config', configFile], {
    env: { NATS_URLS: nats.url, LOG_LEVEL: 'warn' },
    echoStdout: true, // only warnings and errors at this level: worth seeing
  });
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  await waitForHealthy(`http://127.0.0.1:${httpPort}/health`, { timeoutMs: START_TIMEOUT_MS, intervalMs: 100, failure: () => exitReason(child) });
  return { child, port: mqttPort, stopGraceMs: KPC_STOP_GRACE_MS, load: loadAuth };
}

async function startBenchServer(name, script, args) {
  const child = spawnChild(name, process.execPath, [script, '--port', '0', ...args]);
  const [, port] = await waitForLine(child, /^READY (\d+)$/, START_TIMEOUT_MS, `starting ${name}`);
  return { child, port: Number(port), stopGraceMs: 5_000, load: loadAuth }; // they ignore the credentials
}

const targets = {
  kpc: startKpc,
  bridge: (nats) => startBenchServer('bridge', 'bench/bare-bridge.mjs', ['--nats', nats.url]),
  acker: () => startBenchServer('acker', 'bench/acker.mjs', []),
};

// ---- one measurement ----------------------------------------------------------------------------

/** Runs the generator; also counts the ClientData NATS delivered between its WINDOW marks. */
async function runLoad(target, watchPids, counter) {
  const args = ['bench/load-generator.mjs', '--port', String(target.port), '--clients', opts.clients, '--inflight', opts.inflight,
    '--payload', opts.payload, '--warmup', opts.warmup, '--seconds', opts.seconds, '--qos', opts.qos, '--rate', opts.rate,
    '--topic', target.load.topic, '--username', target.load.username, '--password', target.load.password,
    ...watchPids.flatMap((pid) => ['--watch-pid', String(pid)])];
  const generator = spawnChild('load-generator', process.execPath, args);
  const window = {};
  generator.on('line', (line) => {
    if (line.startsWith('WINDOW ')) window[line.slice(7)] = counter.received;
  });
  // Connecting (≤ 30 s), warm-up, window, draining the acks (≤ 10 s), with a margin.
  const budgetMs = (Number(opts.warmup) + Number(opts.seconds) + 60) * 1000;
  try {
    const [line] = await waitForLine(generator, /^\{.*\}$/, budgetMs, 'running the load generator');
    return { ...JSON.parse(line), deliveredInWindow: window.end - window.start };
  } finally {
    await stopChild(generator, 5_000);
  }
}

/** Waits (≤ 3 s) until NATS delivered at least `expected` ClientData messages to the counter. */
async function receivedAtLeast(counter, expected) {
  const deadline = Date.now() + 3_000;
  while (counter.received < expected && Date.now() < deadline) await sleep(50);
  return counter.received;
}

async function measure(name, round, nats, counter) {
  const target = await targets[name](nats, round);
  try {
    counter.received = 0;
    const load = await runLoad(target, [target.child.pid, nats.pid], counter);
    const expected = qos === 1 ? load.totalAcked : load.totalSent;
    const received = name === 'acker' ? null : await receivedAtLeast(counter, expected);
    // QoS 1: acknowledged in the window. QoS 0: delivered by NATS in the window (the acker
    // delivers nothing: its figure is what was sent).
    const messages = qos === 1 ? load.ackedInWindow : name === 'acker' ? load.sentInWindow : load.deliveredInWindow;
    const targetCpuUs = load.watchedCpuUs[target.child.pid];
    const natsCpuUs = load.watchedCpuUs[nats.pid];
    const row = {
      round, target: name,
      msgPerSec: Math.round(messages / load.windowSeconds),
      sentPerSec: Math.round(load.sentInWindow / load.windowSeconds),
      deliveredPerSec: name === 'acker' ? null : Math.round(load.deliveredInWindow / load.windowSeconds),
      p50Ms: load.latencyMs?.p50 ?? null,
      p99Ms: load.latencyMs?.p99 ?? null,
      serverCpuUsPerMsg: (targetCpuUs + natsCpuUs) / messages,
      targetCpuUsPerMsg: targetCpuUs / messages,
      natsCpuUsPerMsg: natsCpuUs / messages,
      targetCpuPercent: (targetCpuUs / 1e6 / load.windowSeconds) * 100,
      loadgenCpuPercent: load.cpuPercent,
      sentTotal: load.totalSent, ackedTotal: load.totalAcked, unackedAtEnd: load.unackedAtEnd, receivedOnNats: received,
    };
    if (received !== null && qos === 1 && received < load.totalAcked) {
      console.error(`WARNING ${name} round ${round}: NATS delivered ${received} ClientData but ${load.totalAcked} were acknowledged`);
    }
    console.error(`  ${name.padEnd(6)} round ${round}: ${row.msgPerSec} msg/s, p50 ${fmt(row.p50Ms, 2)} ms, p99 ${fmt(row.p99Ms, 2)} ms, ` +
      `server ${fmt(row.serverCpuUsPerMsg, 1)} µs/msg, loadgen ${fmt(row.loadgenCpuPercent, 0)} % CPU, ` +
      `acked ${row.ackedTotal ?? '-'} / received ${received ?? '-'}`);
    return row;
  } finally {
    await stopChild(target.child, target.stopGraceMs);
  }
}

// ---- report -------------------------------------------------------------------------------------

const fmt = (value, digits) => (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–');
const metrics = ['msgPerSec', 'p50Ms', 'p99Ms', 'serverCpuUsPerMsg', 'targetCpuUsPerMsg', 'natsCpuUsPerMsg', 'targetCpuPercent', 'loadgenCpuPercent'];

function medians(rows, name) {
  const mine = rows.filter((row) => row.target === name);
  return Object.fromEntries(metrics.map((metric) => [metric, median(mine.map((row) => row[metric]))]));
}

function tableRow(label, m) {
  return `| ${label} | ${fmt(m.msgPerSec, 0)} | ${fmt(m.p50Ms, 2)} | ${fmt(m.p99Ms, 2)} | ${fmt(m.serverCpuUsPerMsg, 1)} | ` +
    `${fmt(m.targetCpuUsPerMsg, 1)} | ${fmt(m.natsCpuUsPerMsg, 1)} | ${fmt(m.targetCpuPercent, 0)} | ${fmt(m.loadgenCpuPercent, 0)} |`;
}

function markdown(report) {
  const { medians: m, ratios, acker } = report;
  const header = '| target | msg/s | p50 ms | p99 ms | server CPU µs/msg (target + nats) | target µs/msg | nats-server µs/msg | target CPU % | load-gen CPU % |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|';
  const load = qos === 1 ? `QoS 1, ${clients} clients × ${opts.inflight} in flight` : `QoS 0, ${clients} clients, rate ${opts.rate === '0' ? 'max' : `${opts.rate} msg/s`}`;
  return `# KPC benchmark, ${report.date}

- Command: \`${report.command}\`
- Machine: ${report.machine.cpu}, ${report.machine.cores} cores, Linux ${report.machine.kernel}; 1-min load average ${fmt(report.machine.loadBefore, 2)} before, ${fmt(report.machine.loadAfter, 2)} after (the bench itself adds ~2)
- KPC: ${opts['kpc-main']} built from ${report.kpc}
- Node ${report.node}, ${report.natsServer}
- Load: ${load}, ${opts.payload}-byte payload, ${opts.warmup} s warm-up + ${opts.seconds} s measured, ${opts.rounds} rounds alternating KPC and bridge${opts.profile ? ', **KPC under --cpu-prof (slower)**' : ''}
- msg/s = ${qos === 1 ? 'PUBACKs received per second' : 'ClientData delivered by NATS per second'} in the measured window. Latency = PUBLISH written → PUBACK read, at the generator.
- Server CPU = utime + stime of the target process and of nats-server over the measured window, per message; % = of one core. nats-server also delivers every message to the bench's counter subscription (the same for both targets).

## Medians over rounds

${header}
${tableRow('KPC', m.kpc)}
${tableRow('bare bridge', m.bridge)}

KPC / bridge: throughput × ${fmt(ratios.throughput, 2)}, server CPU per message × ${fmt(ratios.serverCpuPerMsg, 2)} (target process alone × ${fmt(ratios.targetCpuPerMsg, 2)}), p50 latency × ${fmt(ratios.p50, 2)}.

## Load generator ceiling

Against bench/acker.mjs (answers CONNACK/PUBACK at once, no NATS): **${fmt(acker.msgPerSec, 0)} msg/s** (load generator at ${fmt(acker.loadgenCpuPercent, 0)} % CPU, acker at ${fmt(acker.targetCpuPercent, 0)} %), p50 ${fmt(acker.p50Ms, 2)} ms.
${report.verdict}

## Every round

${report.sanity}

Window rates: sent/s by the generator, delivered/s by NATS to the counter. Totals: over the whole run, warm-up included.

| round | target | msg/s | sent/s | delivered/s | p50 ms | p99 ms | server µs/msg | target CPU % | load-gen CPU % | sent total | acked total | received on NATS |
|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${report.rounds.map((r) => `| ${r.round} | ${r.target} | ${r.msgPerSec} | ${r.sentPerSec} | ${r.deliveredPerSec ?? '–'} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${fmt(r.serverCpuUsPerMsg, 1)} | ${fmt(r.targetCpuPercent, 0)} | ${fmt(r.loadgenCpuPercent, 0)} | ${r.sentTotal} | ${r.ackedTotal ?? '–'} | ${r.receivedOnNats ?? '–'} |`).join('\n')}
${report.profiles.map((p) => `\n## KPC CPU profile\n\n${profileMarkdown(p.summary, relative(repoRoot, p.file))}`).join('')}`;
}

function verdict(acker, m) {
  if (qos === 0 && opts.rate !== '0') return 'Not applicable: at a fixed QoS 0 rate every target runs at that rate.';
  const fastest = Math.max(m.kpc.msgPerSec ?? 0, m.bridge.msgPerSec ?? 0);
  const headroom = acker.msgPerSec / fastest;
  const busiest = Math.max(m.kpc.loadgenCpuPercent ?? 0, m.bridge.loadgenCpuPercent ?? 0);
  const during = `(during the KPC and bridge rounds it used at most ${fmt(busiest, 0)} % of a core)`;
  return headroom >= 1.5
    ? `The ceiling is ${fmt(headroom, 1)}× the faster target: the load generator is NOT what limits KPC or the bridge ${during}.`
    : `WARNING: the ceiling is only ${fmt(headroom, 1)}× the faster target: the load generator may be limiting the results ${during}.`;
}

function sanity(rows) {
  if (qos === 0) return 'QoS 0: nothing is acknowledged; what the servers had not read when the sockets closed is lost.';
  const short = rows.filter((row) => row.receivedOnNats < row.ackedTotal);
  return short.length === 0
    ? 'Sanity: in every round NATS delivered at least as many ClientData as were acknowledged (received ≥ acked).'
    : `WARNING: fewer ClientData received than acknowledged in ${short.map((r) => `${r.target} round ${r.round}`).join(', ')}.`;
}

/** Which KPC was measured: the commit, and whether src/ differed from it (others edit it meanwhile). */
function kpcVersion() {
  try {
    const git = (...args) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
    const dirty = git('status', '--porcelain', '--', 'src').length > 0;
    const subject = git('log', '-1', '--format=%s');
    const short = subject.length > 70 ? `${subject.slice(0, 69)}…` : subject;
    return `${git('log', '-1', '--format=%h')} "${short}"${dirty ? ' + uncommitted src/ changes' : ''}`;
  } catch {
    return 'unknown (no git)';
  }
}

// ---- main ---------------------------------------------------------------------------------------

async function main() {
  const loadBefore = loadavg()[0]; // the machine is shared: others' load shows up in the figures
  const kpc = kpcVersion(); // dist/ was built from src/ just before (npm run bench)
  const nats = await startNats();
  const provider = new DevEcapProvider({ natsUrls: nats.url, credentials: benchCredentials(clients), logger: { info() {}, warn: console.error } });
  await withTimeout(provider.start(), 10_000, 'starting the dev ECAP provider');
  teardown.push(() => provider.stop());
  const counter = await startCounter(nats.url);
  if (opts.profile) mkdirSync(profileDir, { recursive: true });

  console.error(`${command}: ${opts.rounds} rounds of ${opts.warmup} + ${opts.seconds} s, ${clients} clients`);
  const rounds = [];
  for (let round = 1; round <= Number(opts.rounds); round++) {
    for (const name of round % 2 ? ['kpc', 'bridge'] : ['bridge', 'kpc']) rounds.push(await measure(name, round, nats, counter));
  }
  const acker = await measure('acker', 0, nats, counter);

  const m = { kpc: medians(rounds, 'kpc'), bridge: medians(rounds, 'bridge') };
  const ratio = (metric) => m.kpc[metric] / m.bridge[metric];
  const profiles = opts.profile
    ? Array.from({ length: Number(opts.rounds) }, (_, i) => join(profileDir, `kpc-${stamp}-round${i + 1}.cpuprofile`))
        .filter((file) => existsSync(file))
        .slice(0, 1) // one is enough to read; all are kept on disk
        .map((file) => ({ file, summary: summarizeProfile(file, 25) }))
    : [];
  const report = {
    date: new Date().toISOString(),
    command,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, kernel: release(), loadBefore, loadAfter: loadavg()[0] },
    kpc,
    node: process.version,
    natsServer: nats.version,
    options: opts,
    medians: m,
    ratios: { throughput: ratio('msgPerSec'), serverCpuPerMsg: ratio('serverCpuUsPerMsg'), targetCpuPerMsg: ratio('targetCpuUsPerMsg'), p50: ratio('p50Ms') },
    acker,
    verdict: verdict(acker, m),
    sanity: sanity(rounds),
    rounds,
    profiles,
  };
  const text = markdown(report);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(resultsDir, 'latest.md'), text);
  console.log(text);
  console.error(`written: bench/results/${stamp}.json, bench/results/latest.md`);
}

try {
  await main();
  await withTimeout(cleanUp(), 30_000, 'cleanup');
} catch (error) {
  console.error(`bench failed: ${error.message}`);
  await withTimeout(cleanUp(), 30_000, 'cleanup').catch((e) => console.error(e.message));
  process.exit(1);
}
