// Scenario `http`: 1/KP over HTTP request/response through KPC and the echo extension, side by side
// with the same load over MQTT, on one KPC in one run. Both are closed loops with the same number of
// requests in flight: --clients keep-alive HTTP connections with one request each (HTTP/1.1 has no
// multiplexing), and --clients MQTT clients with one request each (QoS --rr-qos). Rounds alternate
// MQTT and HTTP so that drift on a shared machine hits both.
import { median } from '../lib/stats.mjs';
import { fmt, table } from '../lib/report.mjs';
import { runRoundTripGenerator } from '../lib/round-trip.mjs';
import { startWorker } from '../lib/servers.mjs';

export const name = 'http';

export async function run(ctx) {
  const { opts } = ctx;
  const rounds = Number(opts.rounds);
  const echo = await startWorker('echo-extension', 'bench/workers/echo-extension.mjs', ['--nats', ctx.nats.url]);
  const kpc = await ctx.startKpc({ kpHttp: true }, 'http');
  const watch = { kpc: kpc.pid, echo: echo.pid, nats: ctx.nats.pid };
  const timing = ['--payload', opts.payload, '--warmup', opts.warmup, '--seconds', opts.seconds];
  const rows = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const mqtt = await runRoundTripGenerator('rr-generator', 'bench/workers/request-response.mjs', [
        '--port', String(kpc.port), '--clients', opts.clients, '--inflight', '1', '--rate', '0', '--qos', opts['rr-qos'], ...timing,
      ], opts, watch);
      rows.push({ transport: 'mqtt', round, ...mqtt });
      const http = await runRoundTripGenerator('http-generator', 'bench/workers/http-request-response.mjs', [
        '--url', `http://127.0.0.1:${kpc.kpHttpPort}/kp1/bench_v1/bench`, '--connections', opts.clients, ...timing,
      ], opts, watch);
      rows.push({ transport: 'http', round, ...http });
      for (const [transport, row] of [['MQTT', mqtt], ['HTTP', http]]) {
        ctx.log(`  http round ${round} ${transport}: ${row.repliesPerSec} req/s, p50 ${fmt(row.p50, 2)} ms, p99 ${fmt(row.p99, 2)} ms, KPC ${fmt(row.kpcCpuUsPerRequest, 1)} µs/request, ${row.errors} errors`);
      }
    }
  } finally {
    await kpc.stop();
    await echo.stop();
  }
  const med = (transport) => {
    const of = rows.filter((row) => row.transport === transport);
    return Object.fromEntries(['repliesPerSec', 'p50', 'p90', 'p99', 'max', 'kpcCpuUsPerRequest', 'kpcCpuPercent', 'loadgenCpuPercent', 'errors']
      .map((k) => [k, median(of.map((r) => r[k]))]));
  };
  const summary = { mqtt: med('mqtt'), http: med('http') };
  return { summary, rows, checks: [], markdown: markdown(ctx, summary, rows) };
}

function markdown(ctx, summary, rows) {
  const { opts } = ctx;
  const cols = [{ title: 'transport', align: 'l' }, { title: 'round' }, { title: 'req/s' }, { title: 'p50 ms' }, { title: 'p90 ms' }, { title: 'p99 ms' }, { title: 'max ms' },
    { title: 'KPC µs/req' }, { title: 'KPC CPU %' }, { title: 'load-gen CPU %' }, { title: 'errors' }];
  const row = (r) => [r.transport.toUpperCase(), r.round ?? 'median', fmt(r.repliesPerSec), fmt(r.p50, 2), fmt(r.p90, 2), fmt(r.p99, 2), fmt(r.max, 2),
    fmt(r.kpcCpuUsPerRequest, 1), fmt(r.kpcCpuPercent, 0), fmt(r.loadgenCpuPercent, 0), r.errors ?? '–'];
  return `## 1/KP over HTTP and over MQTT

The same request/response load through one KPC and the echo extension: ${opts.clients} keep-alive HTTP connections POSTing \`/kp1/bench_v1/bench/token-<i>/data\` (no request ID), against ${opts.clients} MQTT clients publishing QoS ${opts['rr-qos']} requests to \`kp1/bench_v1/bench/token-<i>/data/<n>\`; one request in flight per connection (closed loop), ${opts.payload}-byte payloads, ${opts.warmup} s warm-up + ${opts.seconds} s measured per round, rounds alternating.

**HTTP ${fmt(summary.http.repliesPerSec)} req/s, p50 ${fmt(summary.http.p50, 2)} ms, p99 ${fmt(summary.http.p99, 2)} ms; MQTT ${fmt(summary.mqtt.repliesPerSec)} req/s, p50 ${fmt(summary.mqtt.p50, 2)} ms, p99 ${fmt(summary.mqtt.p99, 2)} ms (medians).**

${table(cols, [...rows.map(row), { transport: 'mqtt', ...summary.mqtt }, { transport: 'http', ...summary.http }].map((r) => (Array.isArray(r) ? r : row(r))))}
`;
}
