// Scenario 1, throughput: the same client load (bench/load-generator.mjs: N clients, 100-byte
// payload) against three targets in alternating rounds, each started fresh every round:
//   kpc      KPC (authenticated clients, endpoint-aware topics kp1/bench_v1/bench/token-<i>/data,
//            Avro ClientData on kaa.v1.service.bench.esp.ClientData), on the shared nats-server;
//   bridge   bench/bare-bridge.mjs: aedes → NATS, nothing else (the floor KPC's design adds to);
//   gateway  nats-server 2.9.10's own MQTT gateway (JetStream + server_name, as 2.9 requires),
//            clients publishing to kaa/v1/service/bench/esp/ClientData = the same NATS subject.
// In every case a plain NATS subscriber counts what reaches that subject.
// Phases: QoS 1 closed loop (W in flight per client; msg/s = PUBACKs), QoS 0 at max rate and QoS 0
// at a fixed offered rate (msg/s = ClientData delivered by NATS in the window; see `fairness`).
// One round against bench/acker.mjs per phase shows the load generator's ceiling.
// With --workers 1,2 (the default) KPC is measured twice: one process, and kaa.kpc.workers: 2
// (`kpc-2w`; its CPU is the primary's plus both workers').
import { spawnChild, stopChild, waitForLine } from '../lib/children.mjs';
import { median } from '../lib/stats.mjs';
import { fmt, table, check } from '../lib/report.mjs';
import { startBenchServer, startNatsServer } from '../lib/servers.mjs';
import { startCounter, receivedAtLeast } from '../lib/counter.mjs';

export const name = 'throughput';

const kpcLoad = { username: 'bench-{i}', password: 'pw-{i}', topic: 'kp1/bench_v1/bench/token-{i}/data' };
// nats-server maps MQTT topic levels to subject tokens: a/b/c → a.b.c. No authentication configured.
const gatewayLoad = { topic: 'kaa/v1/service/bench/esp/ClientData' };

const kpcWith = (workers) => async (ctx, round, phase) => {
  const kpc = await ctx.startKpc({ workers }, `throughput-${phase}-round${round}${workers > 1 ? `-${workers}w` : ''}`);
  return { ...kpc, counter: ctx.counter, natsPid: ctx.nats.pid, load: kpcLoad };
};

const TARGETS = {
  kpc: kpcWith(1),
  'kpc-2w': kpcWith(2),
  bridge: async (ctx) => {
    const bridge = await startBenchServer('bridge', 'bench/bare-bridge.mjs', ['--nats', ctx.nats.url]);
    return { ...bridge, counter: ctx.counter, natsPid: ctx.nats.pid, load: kpcLoad }; // it ignores the credentials
  },
  gateway: async () => {
    const gateway = await startNatsServer({ label: 'mqtt-gateway', mqtt: true });
    const counter = await startCounter(gateway.url);
    return {
      child: gateway.child, pid: gateway.pid, port: gateway.mqttPort, counter, natsPid: null, load: gatewayLoad,
      stop: async () => {
        await counter.close();
        await gateway.stop();
      },
    };
  },
  acker: async (ctx) => {
    const acker = await startBenchServer('acker', 'bench/acker.mjs');
    return { ...acker, counter: null, natsPid: null, load: kpcLoad };
  },
};

const LABEL = { kpc: 'KPC', 'kpc-2w': 'KPC, 2 workers', bridge: 'bare bridge', gateway: 'nats-server MQTT gateway', acker: 'acker (generator ceiling)' };

/** `kpc` (one process) and, with --workers 1,2, `kpc-2w` (kaa.kpc.workers: 2). */
export function kpcTargets(opts) {
  return opts.workers.split(',').map(Number).map((n) => (n === 1 ? 'kpc' : `kpc-${n}w`)).filter((t) => t === 'kpc' || t === 'kpc-2w');
}

function phases(opts) {
  return [
    { id: 'qos1', title: 'QoS 1, closed loop', qos: 1, rate: 0, rounds: Number(opts.rounds) },
    { id: 'qos0-max', title: 'QoS 0, max rate', qos: 0, rate: 0, rounds: Number(opts['qos0-rounds']) },
    { id: 'qos0-rate', title: `QoS 0, fixed offered rate ${opts['qos0-rate']} msg/s`, qos: 0, rate: Number(opts['qos0-rate']), rounds: Number(opts['qos0-rounds']) },
  ].filter((phase) => phase.rounds > 0 && (phase.id !== 'qos0-rate' || phase.rate > 0));
}

/** Runs the generator; also counts what NATS delivered between its WINDOW marks. */
async function runLoad(ctx, target, phase) {
  const { opts } = ctx;
  const watch = [...(target.pids ?? [target.pid]), target.natsPid].filter(Boolean);
  const args = ['bench/load-generator.mjs', '--port', String(target.port), '--clients', opts.clients, '--inflight', opts.inflight,
    '--payload', opts.payload, '--warmup', opts.warmup, '--seconds', opts.seconds, '--qos', String(phase.qos), '--rate', String(phase.rate),
    '--topic', target.load.topic,
    ...(target.load.username ? ['--username', target.load.username, '--password', target.load.password] : []),
    ...watch.flatMap((pid) => ['--watch-pid', String(pid)])];
  const generator = spawnChild('load-generator', process.execPath, args);
  const window = {};
  generator.on('line', (line) => {
    if (line.startsWith('WINDOW ') && target.counter) window[line.slice(7)] = target.counter.count();
  });
  const budgetMs = (Number(opts.warmup) + Number(opts.seconds) + 60) * 1000;
  try {
    const [line] = await waitForLine(generator, /^\{.*\}$/, budgetMs, 'running the load generator');
    const delivered = target.counter ? (await window.end) - (await window.start) : null;
    return { ...JSON.parse(line), deliveredInWindow: delivered };
  } finally {
    await stopChild(generator, 5_000);
  }
}

async function measure(ctx, targetName, round, phase) {
  const target = await TARGETS[targetName](ctx, round, phase.id);
  try {
    target.counter?.reset();
    const load = await runLoad(ctx, target, phase);
    // QoS 1: everything acknowledged must have reached NATS; QoS 0: whatever did (no waiting).
    const received = !target.counter ? null : phase.qos === 1 ? await receivedAtLeast(target.counter, load.totalAcked) : await target.counter.count();
    const messages = phase.qos === 1 ? load.ackedInWindow : targetName === 'acker' ? load.sentInWindow : load.deliveredInWindow;
    const targetCpuUs = (target.pids ?? [target.pid]).reduce((sum, pid) => sum + load.watchedCpuUs[pid], 0);
    const natsCpuUs = target.natsPid ? load.watchedCpuUs[target.natsPid] : 0;
    const row = {
      phase: phase.id, round, target: targetName,
      msgPerSec: Math.round(messages / load.windowSeconds),
      sentPerSec: Math.round(load.sentInWindow / load.windowSeconds),
      deliveredPerSec: target.counter ? Math.round(load.deliveredInWindow / load.windowSeconds) : null,
      p50Ms: load.latencyMs?.p50 ?? null,
      p99Ms: load.latencyMs?.p99 ?? null,
      serverCpuUsPerMsg: (targetCpuUs + natsCpuUs) / messages,
      targetCpuUsPerMsg: targetCpuUs / messages,
      natsCpuUsPerMsg: target.natsPid ? natsCpuUs / messages : null,
      serverCpuPercent: ((targetCpuUs + natsCpuUs) / 1e6 / load.windowSeconds) * 100,
      loadgenCpuPercent: load.cpuPercent,
      connectSeconds: load.connectSeconds,
      sentTotal: load.totalSent, ackedTotal: load.totalAcked, receivedOnNats: received,
    };
    if (received !== null && phase.qos === 1 && received < load.totalAcked) {
      ctx.log(`WARNING ${targetName} ${phase.id} round ${round}: NATS delivered ${received} ClientData but ${load.totalAcked} were acknowledged`);
    }
    ctx.log(`  ${phase.id.padEnd(9)} ${targetName.padEnd(7)} round ${round}: ${row.msgPerSec} msg/s` +
      (phase.qos === 1 ? `, p50 ${fmt(row.p50Ms, 2)} ms, p99 ${fmt(row.p99Ms, 2)} ms` : `, sent ${row.sentPerSec}/s`) +
      `, server ${fmt(row.serverCpuUsPerMsg, 1)} µs/msg (${fmt(row.serverCpuPercent, 0)} % CPU), loadgen ${fmt(row.loadgenCpuPercent, 0)} % CPU`);
    return row;
  } finally {
    await target.stop();
  }
}

const METRICS = ['msgPerSec', 'sentPerSec', 'deliveredPerSec', 'p50Ms', 'p99Ms', 'serverCpuUsPerMsg', 'targetCpuUsPerMsg', 'natsCpuUsPerMsg', 'serverCpuPercent', 'loadgenCpuPercent'];

function medians(rows, phaseId, targetName) {
  const mine = rows.filter((row) => row.phase === phaseId && row.target === targetName);
  return mine.length === 0 ? null : Object.fromEntries(METRICS.map((metric) => [metric, median(mine.map((row) => row[metric]))]));
}

export async function run(ctx) {
  const rows = [];
  const results = {};
  for (const phase of phases(ctx.opts)) {
    ctx.log(`throughput, ${phase.title}: ${phase.rounds} round(s) of ${ctx.opts.warmup} + ${ctx.opts.seconds} s, ${ctx.opts.clients} clients`);
    const order = [...kpcTargets(ctx.opts), 'bridge', 'gateway'];
    for (let round = 1; round <= phase.rounds; round++) {
      // Rotate the order every round: drifting machine noise hits every target in every position.
      const rotated = order.map((_, k) => order[(k + round - 1) % order.length]);
      for (const targetName of rotated) rows.push(await measure(ctx, targetName, round, phase));
    }
    if (phase.rate === 0) rows.push(await measure(ctx, 'acker', 0, phase));
    const m = Object.fromEntries(['kpc', 'kpc-2w', 'bridge', 'gateway', 'acker'].map((t) => [t, medians(rows, phase.id, t)]));
    const ratio = (target, metric, base) => (m[target] && m[base] && typeof m[target][metric] === 'number' && typeof m[base][metric] === 'number' ? m[target][metric] / m[base][metric] : null);
    const ratiosOf = (target) => Object.fromEntries(['gateway', 'bridge'].map((base) => [base, {
      throughput: ratio(target, 'msgPerSec', base),
      serverCpuPerMsg: ratio(target, 'serverCpuUsPerMsg', base),
      targetCpuPerMsg: ratio(target, 'targetCpuUsPerMsg', base),
      p50: ratio(target, 'p50Ms', base),
      p99: ratio(target, 'p99Ms', base),
    }]));
    results[phase.id] = { phase, medians: m, ratios: ratiosOf('kpc'), workerRatios: m['kpc-2w'] ? ratiosOf('kpc-2w') : null };
  }
  return { rows, phases: results, checks: checks(results), markdown: markdown(ctx, results, rows) };
}

function checks(results) {
  const out = [];
  for (const [id, { ratios }] of Object.entries(results)) {
    if (id === 'qos0-rate') continue; // every target runs at the offered rate: throughput says nothing there
    const q = id === 'qos1' ? 'QoS 1' : 'QoS 0 max';
    const { kpc, gateway, bridge } = results[id].medians;
    const rates = `KPC ${fmt(kpc?.msgPerSec)}, gateway ${fmt(gateway?.msgPerSec)}, bridge ${fmt(bridge?.msgPerSec)} msg/s`;
    const cpu = `KPC ${fmt(kpc?.serverCpuUsPerMsg, 1)}, bridge ${fmt(bridge?.serverCpuUsPerMsg, 1)} µs/msg`;
    out.push(check('throughput', `${q}: KPC ≥ 1.0× gateway msg/s`, `× ${fmt(ratios.gateway.throughput, 2)} (${rates})`, ratios.gateway.throughput >= 1.0));
    out.push(check('throughput', `${q}: KPC ≥ 0.9× bridge msg/s`, `× ${fmt(ratios.bridge.throughput, 2)}`, ratios.bridge.throughput >= 0.9));
    out.push(check('throughput', `${q}: KPC CPU/msg ≤ 1.2× bridge (KPC + nats-server)`, `× ${fmt(ratios.bridge.serverCpuPerMsg, 2)} (${cpu}; KPC process alone × ${fmt(ratios.bridge.targetCpuPerMsg, 2)})`, ratios.bridge.serverCpuPerMsg !== null && ratios.bridge.serverCpuPerMsg <= 1.2));
  }
  return out;
}

function markdown(ctx, results, rows) {
  const { opts } = ctx;
  const cols = [
    { title: 'target', align: 'l' }, { title: 'msg/s' }, { title: 'offered (sent) msg/s' }, { title: 'p50 ms' }, { title: 'p99 ms' },
    { title: 'server CPU µs/msg (target + nats-server)' }, { title: 'target µs/msg' }, { title: 'nats-server µs/msg' },
    { title: 'server CPU %' }, { title: 'load-gen CPU %' },
  ];
  const natsColumn = { gateway: 'same process', acker: 'none' };
  const line = (t, m) => [LABEL[t], fmt(m.msgPerSec), fmt(m.sentPerSec), fmt(m.p50Ms, 2), fmt(m.p99Ms, 2), fmt(m.serverCpuUsPerMsg, 1),
    fmt(m.targetCpuUsPerMsg, 1), natsColumn[t] ?? fmt(m.natsCpuUsPerMsg, 1), fmt(m.serverCpuPercent, 0), fmt(m.loadgenCpuPercent, 0)];
  const sections = Object.values(results).map(({ phase, medians: m, ratios, workerRatios }) => {
    const lines = ['kpc', 'kpc-2w', 'bridge', 'gateway', 'acker'].filter((t) => m[t]).map((t) => line(t, m[t]));
    const r = (base, of = ratios, who = 'KPC') => `${who} / ${base}: throughput × ${fmt(of[base].throughput, 2)}, server CPU per message × ${fmt(of[base].serverCpuPerMsg, 2)} ` +
      `(target process alone × ${fmt(of[base].targetCpuPerMsg, 2)})` + (phase.qos === 1 ? `, p50 × ${fmt(of[base].p50, 2)}, p99 × ${fmt(of[base].p99, 2)}` : '') + '.';
    const workerLines = workerRatios ? `- ${r('gateway', workerRatios, 'KPC with 2 workers')}\n- ${r('bridge', workerRatios, 'KPC with 2 workers')}\n` : '';
    const ceiling = m.acker && phase.rate === 0 ? ceilingNote(m) : '';
    return `### ${phase.title} (medians of ${phase.rounds} round(s))\n\n${table(cols, lines)}\n\n- ${r('gateway')}\n- ${r('bridge')}\n${workerLines}${ceiling}`;
  });
  const perRound = table(
    [{ title: 'phase', align: 'l' }, { title: 'round' }, { title: 'target', align: 'l' }, { title: 'msg/s' }, { title: 'sent/s' }, { title: 'delivered/s' },
      { title: 'p50 ms' }, { title: 'p99 ms' }, { title: 'server µs/msg' }, { title: 'server CPU %' }, { title: 'load-gen CPU %' }, { title: 'sent total' }, { title: 'acked total' }, { title: 'received on NATS' }],
    rows.map((r) => [r.phase, r.round, r.target, r.msgPerSec, r.sentPerSec, r.deliveredPerSec ?? '–', fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.serverCpuUsPerMsg, 1),
      fmt(r.serverCpuPercent, 0), fmt(r.loadgenCpuPercent, 0), r.sentTotal, r.ackedTotal ?? '–', r.receivedOnNats ?? '–']),
  );
  const short = rows.filter((r) => r.phase === 'qos1' && r.receivedOnNats !== null && r.receivedOnNats < r.ackedTotal);
  return `## 1. Throughput

Load: ${opts.clients} clients, ${opts.payload}-byte payload, ${opts.warmup} s warm-up + ${opts.seconds} s measured per round; every target started fresh each round, the order rotated every round.
- QoS 1: each client keeps ${opts.inflight} PUBLISHes in flight (closed loop); msg/s = PUBACKs received in the window; latency = PUBLISH written → PUBACK read.
- QoS 0 (fairness): nothing is acknowledged, so msg/s = messages NATS delivered to the counting subscriber in the window, for every target alike. *Max rate*: every client keeps its socket full (kernel backpressure is the only brake); what each target gets through is its capacity, and the one generator costs the same for all. *Fixed rate*: ${opts['qos0-rate']} msg/s offered to every target (paced every 2 ms): at a rate all of them sustain, throughput is equal by construction and CPU µs per delivered message is the comparison.
- Server CPU = utime + stime over the window of the target process and of the nats-server it publishes into, per message; the gateway IS the nats-server (one process). % = of one core (the machine has 2).
- KPC and the bridge publish into the shared nats-server, which also delivers to the counter; the gateway's own NATS side delivers to its counter.

${sections.join('\n')}
#### Every round

${short.length === 0 ? 'Sanity: in every QoS 1 round NATS delivered at least as many ClientData as were acknowledged.' : `WARNING: fewer ClientData received than acknowledged in ${short.map((r) => `${r.target} round ${r.round}`).join(', ')}.`}

${perRound}
`;
}

function ceilingNote(m) {
  const fastest = Math.max(m.kpc?.msgPerSec ?? 0, m['kpc-2w']?.msgPerSec ?? 0, m.bridge?.msgPerSec ?? 0, m.gateway?.msgPerSec ?? 0);
  const headroom = m.acker.msgPerSec / fastest;
  return headroom >= 1.5
    ? `- Generator ceiling (acker): ${fmt(m.acker.msgPerSec)} msg/s, ${fmt(headroom, 1)}× the fastest target: the generator is not what limits them.\n`
    : `- WARNING: the generator's ceiling (acker: ${fmt(m.acker.msgPerSec)} msg/s) is only ${fmt(headroom, 1)}× the fastest target: the generator may limit the results.\n`;
}
