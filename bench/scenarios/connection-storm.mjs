// Scenario 3, connection storm: N clients (default 5 000) open their TCP connections at once
// (bench/workers/connections.mjs --concurrency 0: every connect() issued in one go) and send
// CONNECT with ECAP-validated credentials bench-<i>/pw-<i>; the dev ECAP provider runs in its own
// process. connects/s = CONNACK 0 count / (first connect() → last CONNACK 0). KPC is started fresh
// every round with authentication.max-in-flight and max-connections above N. In alternating order,
// the same storm against bench/acker.mjs (CONNACK at once, no authentication) shows what the
// generator and the kernel allow on this machine: the ceiling any server could reach here.
// With --workers 1,2 (the default) KPC also runs with kaa.kpc.workers: 2 (`kpc-2w`; its CPU is the
// primary's, which accepts every connection and hands it on, plus both workers').
import { spawnNode, stopChild, waitForLine } from '../lib/children.mjs';
import { cpuMicros } from '../lib/proc-cpu.mjs';
import { freshSourceAddress } from '../lib/addresses.mjs';
import { median } from '../lib/stats.mjs';
import { check, fmt, table } from '../lib/report.mjs';
import { startBenchServer } from '../lib/servers.mjs';
import { kpcTargets } from './throughput.mjs';

/** CPU of every process of a target (a KPC primary and its workers). */
const targetCpuMicros = (target) => (target.pids ?? [target.pid]).reduce((sum, pid) => sum + cpuMicros(pid), 0);

export const name = 'connection-storm';

async function storm(ctx, target, count) {
  const before = { target: targetCpuMicros(target), provider: target.auth ? cpuMicros(ctx.provider.pid) : 0 };
  const timeoutSeconds = Number(ctx.opts['storm-timeout']);
  const generator = spawnNode('storm', 'bench/workers/connections.mjs', [
    '--port', String(target.port), '--clients', String(count), '--concurrency', '0', '--mode', 'storm',
    '--local-address', freshSourceAddress(), '--timeout', String(timeoutSeconds),
  ], { fileLimit: count + 1_000 });
  try {
    const [, json] = await waitForLine(generator, /^CONNECTED (.*)$/, (timeoutSeconds + 30) * 1000, 'running the connection storm');
    const result = JSON.parse(json);
    const targetCpuMs = (targetCpuMicros(target) - before.target) / 1000;
    return {
      connectsPerSec: result.connectsPerSec,
      connected: result.connected,
      failed: result.failed,
      reasons: result.reasons,
      spanMs: result.spanMs,
      firstConnackMs: result.firstConnackMs,
      connackP50Ms: result.connackMs.p50,
      connackP99Ms: result.connackMs.p99,
      targetCpuMs,
      targetCpuUsPerConnect: (targetCpuMs * 1000) / Math.max(1, result.connected),
      providerCpuMs: target.auth ? (cpuMicros(ctx.provider.pid) - before.provider) / 1000 : null,
    };
  } finally {
    await stopChild(generator, 5_000);
  }
}

export async function run(ctx) {
  const count = Number(ctx.opts['storm-clients']);
  const rounds = Number(ctx.opts['storm-rounds']);
  const rows = [];
  for (let round = 1; round <= rounds; round++) {
    const order = [...kpcTargets(ctx.opts), 'acker'];
    for (const targetName of order.map((_, k) => order[(k + round - 1) % order.length])) {
      const workers = targetName === 'kpc-2w' ? 2 : 1;
      const target = targetName !== 'acker'
        ? { ...(await ctx.startKpc({ maxInFlight: Math.max(5_000, count), maxConnections: count + 1_000, fileLimit: count + 1_000, workers }, `storm-round${round}${workers > 1 ? '-2w' : ''}`)), auth: true }
        : await startBenchServer('acker', 'bench/acker.mjs');
      try {
        const row = { round, target: targetName, ...(await storm(ctx, target, count)) };
        rows.push(row);
        ctx.log(`  storm ${targetName.padEnd(5)} round ${round}: ${row.connected}/${count} in ${fmt(row.spanMs)} ms = ${fmt(row.connectsPerSec)} connects/s, ` +
          `${row.failed} failed${row.failed ? ` ${JSON.stringify(row.reasons)}` : ''}, CONNACK p50 ${fmt(row.connackP50Ms)} ms p99 ${fmt(row.connackP99Ms)} ms, ` +
          `${targetName} CPU ${fmt(row.targetCpuUsPerConnect)} µs/connect`);
      } finally {
        await target.stop();
      }
    }
  }
  const med = (targetName, key) => median(rows.filter((r) => r.target === targetName).map((r) => r[key]));
  const summary = Object.fromEntries(['kpc', 'kpc-2w', 'acker'].map((t) => [t, Object.fromEntries(
    ['connectsPerSec', 'connected', 'failed', 'spanMs', 'firstConnackMs', 'connackP50Ms', 'connackP99Ms', 'targetCpuUsPerConnect', 'providerCpuMs'].map((k) => [k, med(t, k)]))]));
  summary.clients = count;
  summary.kpcToCeiling = summary.kpc.connectsPerSec / summary.acker.connectsPerSec;
  summary.workersToOne = summary['kpc-2w'].connectsPerSec / summary.kpc.connectsPerSec;
  const totalFailed = rows.filter((r) => r.target === 'kpc').reduce((sum, r) => sum + r.failed, 0);
  return {
    summary, rows,
    checks: [check('connection-storm', `≥ 4 500 connects/s, ≤ 200 µs KPC CPU each (${count} clients at once, ECAP)`,
      `${fmt(summary.kpc.connectsPerSec)} connects/s, ${fmt(summary.kpc.targetCpuUsPerConnect)} µs each, ${totalFailed} failed in ${rounds} round(s) (ceiling here: ${fmt(summary.acker.connectsPerSec)}/s)` +
      (Number.isFinite(summary['kpc-2w'].connectsPerSec) ? `; 2 workers: ${fmt(summary['kpc-2w'].connectsPerSec)} connects/s, ${fmt(summary['kpc-2w'].targetCpuUsPerConnect)} µs each (× ${fmt(summary.workersToOne, 2)})` : ''),
      summary.kpc.connectsPerSec >= 4_500 && summary.kpc.targetCpuUsPerConnect <= 200 && totalFailed === 0)],
    markdown: markdown(summary, rows, rounds),
  };
}

function markdown(summary, rows, rounds) {
  const cols = [{ title: 'round' }, { title: 'target', align: 'l' }, { title: 'connects/s' }, { title: 'CONNACK 0' }, { title: 'failed' }, { title: 'first SYN → last CONNACK ms' },
    { title: 'first CONNACK ms' }, { title: 'CONNACK p50 ms' }, { title: 'CONNACK p99 ms' }, { title: 'server CPU µs/connect' }, { title: 'ECAP provider CPU ms' }, { title: 'failure reasons', align: 'l' }];
  return `## 3. Connection storm

${summary.clients} clients connect at once (every connect() issued in one go, CONNECT sent on each TCP connect) with username/password validated over 16/ECAP by the dev provider in its own process; KPC started fresh each round with \`authentication.max-in-flight\` ≥ ${summary.clients} and \`max-connections\` above it. connects/s = CONNACK 0 count / time from the first connect() (SYN) to the last CONNACK 0. The acker (CONNACK at once, no authentication, no NATS) in alternating rounds is the generator's and kernel's ceiling on this machine. Medians of ${rounds} round(s).

**KPC: ${fmt(summary.kpc.connectsPerSec)} connects/s (${fmt(summary.kpc.failed)} failed), ${fmt(summary.kpc.targetCpuUsPerConnect)} µs of KPC CPU per connect; ceiling (acker) ${fmt(summary.acker.connectsPerSec)} connects/s; KPC / ceiling × ${fmt(summary.kpcToCeiling, 2)}.**${Number.isFinite(summary['kpc-2w'].connectsPerSec) ? `
**KPC with 2 workers: ${fmt(summary['kpc-2w'].connectsPerSec)} connects/s (${fmt(summary['kpc-2w'].failed)} failed), ${fmt(summary['kpc-2w'].targetCpuUsPerConnect)} µs of CPU (primary + workers) per connect; × ${fmt(summary.workersToOne, 2)} one process.**` : ''}

${table(cols, rows.map((r) => [r.round, r.target, fmt(r.connectsPerSec), r.connected, r.failed, fmt(r.spanMs), fmt(r.firstConnackMs), fmt(r.connackP50Ms), fmt(r.connackP99Ms), fmt(r.targetCpuUsPerConnect), fmt(r.providerCpuMs), Object.keys(r.reasons).length ? JSON.stringify(r.reasons) : '–']))}
`;
}
