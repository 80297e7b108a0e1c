// Does serving 1/KP over HTTP with hono on @hono/node-server cost throughput against plain
// node:http? The same handler under both (bench/workers/http-server.mjs), loaded by the same
// keep-alive closed-loop generator in its own process (bench/workers/http-request-response.mjs),
// rounds alternating. Prints requests/s and server CPU µs per request per round, and the ratios of
// the medians (on a shared machine the CPU per request is the steadier of the two).
//   node bench/http-framework.mjs [--rounds 3] [--connections 100] [--seconds 5]
import { parseArgs } from 'node:util';
import { spawnChild, stopAllChildren, waitForLine } from './lib/children.mjs';
import { runRoundTripGenerator } from './lib/round-trip.mjs';
import { median } from './lib/stats.mjs';

const { values: opts } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '100' }, seconds: { type: 'string', default: '5' } },
});
const timing = { warmup: '1', seconds: opts.seconds };
const rates = { hono: [], node: [] };
const cpuPerRequest = { hono: [], node: [] };
try {
  for (let round = 1; round <= Number(opts.rounds); round++) {
    for (const framework of ['hono', 'node']) {
      const server = spawnChild(`${framework} server`, process.execPath, ['bench/workers/http-server.mjs', '--framework', framework]);
      const [, port] = await waitForLine(server, /^READY (\d+)$/, 10_000, `starting the ${framework} server`);
      const row = await runRoundTripGenerator('http-generator', 'bench/workers/http-request-response.mjs', [
        '--url', `http://127.0.0.1:${port}/kp1/v/e`, '--connections', opts.connections, '--payload', '100',
        '--warmup', timing.warmup, '--seconds', timing.seconds,
      ], timing, { kpc: server.pid });
      rates[framework].push(row.repliesPerSec);
      cpuPerRequest[framework].push(row.kpcCpuUsPerRequest);
      console.log(`round ${round} ${framework.padEnd(4)}: ${row.repliesPerSec} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, server ${row.kpcCpuUsPerRequest.toFixed(1)} µs CPU/request, ${row.errors} errors`);
      server.kill('SIGTERM');
    }
  }
  const [hono, node] = [median(rates.hono), median(rates.node)];
  const [honoCpu, nodeCpu] = [median(cpuPerRequest.hono), median(cpuPerRequest.node)];
  console.log(`median: hono ${hono} req/s, node:http ${node} req/s, throughput hono/node:http = ${(hono / node).toFixed(2)}`);
  console.log(`median: hono ${honoCpu.toFixed(1)} µs/request, node:http ${nodeCpu.toFixed(1)} µs/request, CPU hono/node:http = ${(honoCpu / nodeCpu).toFixed(2)}`);
} finally {
  await stopAllChildren();
}
