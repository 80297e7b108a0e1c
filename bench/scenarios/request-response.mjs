// Scenario 2, request/response round trip through KPC and an echo extension in its own process
// (bench/workers/echo-extension.mjs → dist-dev/dev/echo-extension.js, answering ClientData that carry
// a request id with an ExtensionData of the same payload). Load: bench/workers/request-response.mjs.
// First the maximum request rate (closed loop: N clients × W requests outstanding), then an open
// loop at a fraction (default 50 %) of it, where the round-trip percentiles are what counts.
import { runRoundTripGenerator } from '../lib/round-trip.mjs';
import { median } from '../lib/stats.mjs';
import { check, fmt, table } from '../lib/report.mjs';
import { startWorker } from '../lib/servers.mjs';

export const name = 'request-response';

function runGenerator(ctx, kpc, echo, { rate }) {
  const { opts } = ctx;
  return runRoundTripGenerator('rr-generator', 'bench/workers/request-response.mjs', [
    '--port', String(kpc.port), '--clients', opts.clients, '--inflight', opts.inflight, '--rate', String(Math.round(rate)),
    '--qos', opts['rr-qos'], '--payload', opts.payload, '--warmup', opts.warmup, '--seconds', opts.seconds,
  ], opts, { kpc: kpc.pid, echo: echo.pid, nats: ctx.nats.pid }).then((row) => ({ rate: Math.round(rate), ...row }));
}

export async function run(ctx) {
  const { opts } = ctx;
  const rounds = Number(opts['rr-rounds']);
  const fraction = Number(opts['rr-load']);
  const echo = await startWorker('echo-extension', 'bench/workers/echo-extension.mjs', ['--nats', ctx.nats.url]);
  const kpc = await ctx.startKpc({}, 'request-response');
  const closed = [];
  const open = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const row = await runGenerator(ctx, kpc, echo, { rate: 0 });
      closed.push({ round, ...row });
      ctx.log(`  request-response closed loop round ${round}: ${row.repliesPerSec} req/s, p50 ${fmt(row.p50, 2)} ms, p99 ${fmt(row.p99, 2)} ms, KPC ${fmt(row.kpcCpuUsPerRequest, 1)} µs/request`);
    }
    const maxRate = median(closed.map((r) => r.repliesPerSec));
    const rate = maxRate * fraction;
    for (let round = 1; round <= rounds; round++) {
      const row = await runGenerator(ctx, kpc, echo, { rate });
      open.push({ round, ...row });
      ctx.log(`  request-response open loop ${row.rate} req/s round ${round}: ${row.repliesPerSec} replies/s, p50 ${fmt(row.p50, 2)} ms, p99 ${fmt(row.p99, 2)} ms`);
    }
  } finally {
    await kpc.stop();
    await echo.stop();
  }
  const med = (rows) => Object.fromEntries(['rate', 'repliesPerSec', 'p50', 'p90', 'p99', 'max', 'kpcCpuUsPerRequest', 'echoCpuUsPerRequest', 'natsCpuUsPerRequest', 'kpcCpuPercent', 'loadgenCpuPercent']
    .map((k) => [k, median(rows.map((r) => r[k]))]));
  const summary = { maxRate: med(closed), atLoad: med(open), fraction };
  return {
    summary, closed, open,
    checks: [check('request-response', `round trip p99 ≤ 5 ms at ${Math.round(fraction * 100)} % of the max rate`, `${fmt(summary.atLoad.p99, 2)} ms (p50 ${fmt(summary.atLoad.p50, 2)} ms at ${fmt(summary.atLoad.rate)} req/s)`, summary.atLoad.p99 <= 5)],
    markdown: markdown(ctx, summary, closed, open),
  };
}

function markdown(ctx, summary, closed, open) {
  const { opts } = ctx;
  const cols = [{ title: 'phase', align: 'l' }, { title: 'round' }, { title: 'offered req/s' }, { title: 'replies/s' }, { title: 'p50 ms' }, { title: 'p90 ms' }, { title: 'p99 ms' }, { title: 'max ms' },
    { title: 'KPC µs/req' }, { title: 'echo µs/req' }, { title: 'nats µs/req' }, { title: 'KPC CPU %' }, { title: 'load-gen CPU %' }, { title: 'errors' }];
  const row = (phase, r) => [phase, r.round ?? 'median', r.rate === 0 ? 'closed loop' : fmt(r.rate), fmt(r.repliesPerSec), fmt(r.p50, 2), fmt(r.p90, 2), fmt(r.p99, 2), fmt(r.max, 2),
    fmt(r.kpcCpuUsPerRequest, 1), fmt(r.echoCpuUsPerRequest, 1), fmt(r.natsCpuUsPerRequest, 1), fmt(r.kpcCpuPercent, 0), fmt(r.loadgenCpuPercent, 0), r.errors ?? '–'];
  return `## 2. Request/response round trip

Clients publish QoS ${opts['rr-qos']} requests to \`kp1/bench_v1/bench/token-<i>/data/<n>\` (n = request id); the echo extension (own process) answers each ClientData with an ExtensionData of the same ${opts.payload}-byte payload; KPC publishes it to \`…/data/<n>/status\` on the requesting connection. Round trip = request written → /status read, at the generator. ${opts.clients} clients; max rate = closed loop with ${opts.inflight} requests outstanding per client; then an open loop at ${Math.round(summary.fraction * 100)} % of the median max rate, requests due every millisecond round-robin over the clients. ${opts.warmup} s warm-up + ${opts.seconds} s measured per round, one KPC for all rounds. CPU µs per request of KPC, the echo extension and nats-server.

**Max request rate ${fmt(summary.maxRate.repliesPerSec)} req/s; at ${fmt(summary.atLoad.rate)} req/s: p50 ${fmt(summary.atLoad.p50, 2)} ms, p99 ${fmt(summary.atLoad.p99, 2)} ms.**

${table(cols, [...closed.map((r) => row('max (closed loop)', r)), ...open.map((r) => row(`${Math.round(summary.fraction * 100)} % (open loop)`, r))])}
`;
}
