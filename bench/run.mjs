// `npm run bench`: KPC's performance suite. Every scenario by default, each in its own module under
// bench/scenarios/, on one shared nats-server and one dev ECAP provider process:
//   throughput        QoS 1 (closed loop) and QoS 0 (max rate, fixed rate): KPC vs the bare
//                     aedes→NATS bridge vs nats-server's own MQTT gateway, alternating rounds
//   request-response  max request rate through KPC + an echo extension, then round trip at 50 %
//   connection-storm  5 000 clients connecting at once with ECAP authentication
//   idle-scale        20 000 and 50 000 idle authenticated clients: KPC RSS and heap per connection
//   revocation        10 000 clients, 200 credential revocations: event → socket closed
//   soak              200 000 short-lived connections in 5 rounds: heap after forced GC per round
//                     (the run exits non-zero unless the last round is within 5 % of round 2)
//   http              1/KP over HTTP request/response beside the same load over MQTT (one KPC)
// Prints progress on stderr and the report (Markdown) on stdout; writes bench/results/<date>.json
// and bench/results/latest.md. Every child process is stopped on success, error and Ctrl-C.
//
//   node bench/run.mjs [--only throughput,revocation] [--quick] [--profile] [--kpc-main dist/main.js]
//                      [--kpc-env KEY=VALUE,…]  (extra environment for KPC: setting overrides, for experiments)
//     throughput, connection-storm: [--workers 1,2]  (KPC as one process and with kaa.kpc.workers: 2)
//     throughput:        [--clients 100] [--inflight 4] [--payload 100] [--warmup 2] [--seconds 10]
//                        [--rounds 3] [--qos0-rounds 2] [--qos0-rate 10000] [--qos 1|0 [--rate R]]
//     request-response:  [--rr-rounds 2] [--rr-load 0.5] [--rr-qos 1]   (and --clients --inflight …)
//     connection-storm:  [--storm-clients 5000] [--storm-rounds 3] [--storm-timeout 60]
//     idle-scale:        [--idle-counts 20000,50000] [--idle-per-process 10000] [--idle-concurrency 100]
//                        [--idle-timeout 60]  (seconds, plus 1 s per 500 clients) [--idle-workers 1]
//                        (kaa.kpc.workers for idle scale: 60 000 clients need 4 under a 20 000 open-file limit)
//     revocation:        [--revocation-clients 10000] [--revocations 200]
//     soak:              [--soak-rounds 5] [--soak-clients 40000] [--soak-users 10000] [--soak-concurrency 200]
//     http:              [--clients 100] [--rounds 3] [--rr-qos 1] [--payload 100] [--warmup 2] [--seconds 10]
//
// --quick shortens everything (1 round, 3 s windows, smaller counts) for development; flags given
// explicitly win. --profile runs every KPC with --cpu-prof (bench/results/profiles/) and appends
// its top functions per scenario; profiling slows KPC, so take figures from a run without it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, resultsDir } from './lib/paths.mjs';

if (!existsSync(join(repoRoot, 'dist/main.js'))) {
  console.error('dist/ is missing: run `npm run build` first (`npm run bench` does)');
  process.exit(1);
}
const { stopAllChildren } = await import('./lib/children.mjs');
const { withTimeout } = await import('./lib/timeout.mjs');
const { startKpc, startNatsServer, startWorker, natsServerVersion } = await import('./lib/servers.mjs');
const { startCounter } = await import('./lib/counter.mjs');
const { hardFileLimit } = await import('./lib/proc.mjs');
const { fmt, table } = await import('./lib/report.mjs');
const { profileMarkdown, summarizeProfile } = await import('./profile-summary.mjs');

const SCENARIOS = {
  throughput: () => import('./scenarios/throughput.mjs'),
  'request-response': () => import('./scenarios/request-response.mjs'),
  'connection-storm': () => import('./scenarios/connection-storm.mjs'),
  'idle-scale': () => import('./scenarios/idle-scale.mjs'),
  revocation: () => import('./scenarios/revocation.mjs'),
  soak: () => import('./scenarios/soak.mjs'),
  http: () => import('./scenarios/http.mjs'),
};

const DEFAULTS = {
  clients: '100', inflight: '4', payload: '100', warmup: '2', seconds: '10', rounds: '3', 'qos0-rounds': '2', 'qos0-rate': '10000',
  'rr-rounds': '2', 'rr-load': '0.5', 'rr-qos': '1',
  'storm-clients': '5000', 'storm-rounds': '3', 'storm-timeout': '60',
  'idle-counts': '20000,50000', 'idle-per-process': '10000', 'idle-concurrency': '100', 'idle-timeout': '60',
  'revocation-clients': '10000', revocations: '200',
  'soak-rounds': '5', 'soak-clients': '40000', 'soak-users': '10000', 'soak-concurrency': '200',
  'kpc-main': 'dist/main.js', 'kpc-env': '', workers: '1,2', 'idle-workers': '1',
};
const QUICK = {
  warmup: '1', seconds: '3', rounds: '1', 'qos0-rounds': '1', 'rr-rounds': '1', 'storm-rounds': '1',
  'idle-counts': '2000,5000', 'idle-timeout': '30', 'revocation-clients': '2000', revocations: '50',
  'soak-rounds': '3', 'soak-clients': '5000', 'soak-users': '2000',
};
const stringOptions = [...Object.keys(DEFAULTS), 'only', 'qos', 'rate'];
const usage = () =>
  `usage: node bench/run.mjs [--only ${Object.keys(SCENARIOS).join(',')}] [--quick] [--profile]\n` +
  Object.entries(DEFAULTS).map(([key, value]) => `  --${key} <value>  (default ${value === '' ? 'none' : value})`).join('\n') +
  '\n  --qos 0|1  only that phase of throughput;  --rate R  the QoS 0 phases\' fixed rate';
let given;
try {
  ({ values: given } = parseArgs({
    options: {
      ...Object.fromEntries(stringOptions.map((k) => [k, { type: 'string' }])),
      quick: { type: 'boolean' }, profile: { type: 'boolean' }, help: { type: 'boolean' },
    },
  }));
} catch (error) {
  // A mistyped flag gets one line naming it and the usage, not a stack trace.
  console.error(`${error.message}\n${usage()}`);
  process.exit(2);
}
if (given.help) {
  console.log(usage());
  process.exit(0);
}
const opts = { ...DEFAULTS, ...(given.quick ? QUICK : {}), ...given, quick: given.quick ?? false, profile: given.profile ?? false };
// The old single-phase flags: --qos 1 = only the QoS 1 phase; --qos 0 = only the QoS 0 phases, --rate R their fixed rate.
if (opts.qos === '1') opts['qos0-rounds'] = '0';
if (opts.qos === '0') opts.rounds = '0';
if (opts.rate !== undefined) opts['qos0-rate'] = opts.rate;
// --kpc-env KEY=VALUE,KEY=VALUE: extra environment for every KPC (setting overrides, e.g.
// KAA_KPC_INSPECTION_JOURNAL_LENGTH=1), to measure what a setting costs.
const kpcEnv = Object.fromEntries(opts['kpc-env'].split(',').filter(Boolean).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
const selected = opts.only ? opts.only.split(',').map((s) => s.trim()).filter(Boolean) : Object.keys(SCENARIOS);
for (const name of selected) {
  if (!SCENARIOS[name]) {
    console.error(`unknown scenario "${name}"; known: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const profileDir = join(resultsDir, 'profiles');
const command = process.env.npm_lifecycle_event === 'bench'
  ? `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
  : `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim();
const log = (...args) => console.error(...args);

// ---- cleanup: everything that must be stopped, newest first; on success, error and Ctrl-C ------

const teardown = [];
let cleaning;
function cleanUp() {
  cleaning ??= (async () => {
    // Targets and generators first, while NATS still runs (KPC drains into it); nats-server last.
    await stopAllChildren((child) => child.label !== 'nats-server');
    for (const step of teardown.reverse()) await withTimeout(step(), 10_000, 'cleanup step').catch((error) => log(`cleanup: ${error.message}`));
    await stopAllChildren();
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`\n${signal}: stopping every child process`);
    withTimeout(cleanUp(), 20_000, 'cleanup').finally(() => process.exit(130));
  });
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

function usersNeeded() {
  const counts = [Number(opts.clients)];
  if (selected.includes('connection-storm')) counts.push(Number(opts['storm-clients']));
  if (selected.includes('idle-scale')) counts.push(...opts['idle-counts'].split(',').map(Number));
  if (selected.includes('revocation')) counts.push(Number(opts['revocation-clients']));
  if (selected.includes('soak')) counts.push(Number(opts['soak-users']));
  return Math.max(...counts);
}

// ---- report -------------------------------------------------------------------------------------

function markdown(report) {
  const checks = report.scenarios.flatMap((s) => s.checks ?? []);
  return `# KPC benchmark, ${report.date}

- Command: \`${report.command}\` (${report.elapsedSeconds} s)
- Machine: ${report.machine.cpu}, ${report.machine.cores} cores, Linux ${report.machine.kernel}, open-file limit ${report.machine.hardFileLimit} (hard); 1-min load average ${fmt(report.machine.loadBefore, 2)} before, ${fmt(report.machine.loadAfter, 2)} after (shared machine: others' work shows in the figures)
- KPC: \`${opts['kpc-main']}\` built from ${report.kpc}, \`node ${opts['kpc-main']} --config <generated>\`, LOG_LEVEL=warn${opts['kpc-env'] ? `, environment ${opts['kpc-env']}` : ''}${opts.profile ? ', **under --cpu-prof (slower)**' : ''}
- Node ${report.node}, ${report.natsServer}; dev ECAP provider in its own process (${report.providerUsers} users)
- Scenarios: ${report.scenarios.map((s) => s.name).join(', ')}${opts.quick ? ' (**--quick**: short windows, one round, smaller counts)' : ''}

## Targets

${table([{ title: 'scenario', align: 'l' }, { title: 'target', align: 'l' }, { title: 'measured', align: 'l' }, { title: 'met?', align: 'l' }],
  checks.map((c) => [c.scenario, c.target, `${c.measured}${c.note ? ` — ${c.note}` : ''}`, c.ok ? 'yes' : '**NO**']))}

${report.scenarios.map((s) => s.markdown).join('\n')}`;
}

// ---- main ---------------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const loadBefore = loadavg()[0];
  const kpc = kpcVersion();
  if (opts.profile) mkdirSync(profileDir, { recursive: true });
  const nats = await startNatsServer();
  teardown.push(() => nats.stop());
  const providerUsers = usersNeeded();
  const provider = await startWorker('ecap-provider', 'bench/workers/ecap-provider.mjs', ['--nats', nats.url, '--users', String(providerUsers)]);
  // Also the sink for every scenario's ClientData: with no subscriber at all, NATS would answer
  // each KPC request with a "no responders" status message.
  const counter = await startCounter(nats.url);
  teardown.push(() => counter.close());

  const profiles = [];
  const ctx = {
    opts, log, nats, provider, counter,
    startKpc: (settings, label) => {
      const profile = opts.profile ? { dir: profileDir, name: `kpc-${stamp}-${label}.cpuprofile` } : null;
      if (profile) profiles.push({ label, file: join(profile.dir, profile.name) });
      return startKpc({ natsUrl: nats.url, replicaId: `bench-${label}`, main: opts['kpc-main'], profile, env: kpcEnv, ...settings });
    },
  };
  log(`${command}: ${selected.join(', ')}`);
  const scenarios = [];
  for (const name of selected) {
    const scenarioStarted = Date.now();
    const firstProfile = profiles.length;
    log(`\n== ${name}`);
    let result;
    try {
      const module = await SCENARIOS[name]();
      result = await module.run(ctx);
    } catch (error) {
      log(`${name} failed: ${error.stack ?? error.message}`);
      result = { error: error.message, markdown: `## ${name}\n\n**FAILED**: ${error.message}\n`, checks: [{ scenario: name, target: 'scenario ran', measured: `failed: ${error.message.split('\n')[0]}`, ok: false }] };
      await stopAllChildren((child) => !['nats-server', 'ecap-provider'].includes(child.label));
    }
    result.seconds = Math.round((Date.now() - scenarioStarted) / 1000);
    const mine = profiles.slice(firstProfile).filter((p) => existsSync(p.file));
    if (mine.length > 0) {
      // One per scenario is enough to read; all are kept on disk.
      result.profile = { file: relative(repoRoot, mine[0].file), summary: summarizeProfile(mine[0].file, 25) };
      result.markdown += `\n### KPC CPU profile (${mine[0].label})\n\n${profileMarkdown(result.profile.summary, result.profile.file)}`;
    }
    scenarios.push({ name, ...result });
  }

  const report = {
    date: new Date().toISOString(),
    command,
    elapsedSeconds: Math.round((Date.now() - started) / 1000),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, kernel: release(), loadBefore, loadAfter: loadavg()[0], hardFileLimit: hardFileLimit() },
    kpc,
    node: process.version,
    natsServer: natsServerVersion(),
    providerUsers,
    options: opts,
    scenarios,
  };
  const text = markdown(report);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(resultsDir, 'latest.md'), text);
  console.log(text);
  log(`written: bench/results/${stamp}.json, bench/results/latest.md`);
  // A scenario marked `gate` (soak) decides the exit code by its checks; the others only report.
  return scenarios.every((s) => !s.error && (!s.gate || s.checks.every((c) => c.ok)));
}

let ok = false;
try {
  ok = await main();
} catch (error) {
  log(`bench failed: ${error.stack ?? error.message}`);
}
await withTimeout(cleanUp(), 30_000, 'cleanup').catch((error) => log(error.message));
process.exit(ok ? 0 : 1);
