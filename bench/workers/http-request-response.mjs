// 1/KP over HTTP request/response load through KPC and an echo extension, in its own process: the
// HTTP counterpart of request-response.mjs. Each of --connections keep-alive connections POSTs to
// `<url>/token-<i>/data` (no request ID: KPC picks one) and sends the next request when the answer
// has been read (closed loop, one request in flight per connection: HTTP/1.1 without pipelining).
// Round trip = request written → response read. A status other than 200 counts as an error.
// Prints `WINDOW start` / `WINDOW end`, then one JSON line. --watch-pid as in load-generator.mjs.
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { LatencyRecorder, percentile } from '../lib/stats.mjs';
import { cpuMicros } from '../lib/proc-cpu.mjs';

const { values: o } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '100' },
    payload: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '10' },
    'watch-pid': { type: 'string', multiple: true, default: [] },
  },
});
if (!o.url) {
  console.error('http-request-response: --url is required');
  process.exit(1);
}
const payload = Buffer.alloc(Number(o.payload), 'x');
const latencies = new LatencyRecorder();
const totals = { sent: 0, replies: 0, errors: 0 };
const window = { sent: 0, replies: 0, errors: 0 };
let sending = true;
let measuring = false;
let outstanding = 0;
const DRAIN_TIMEOUT_MS = 5_000;

/** One connection's closed loop: its own Agent holds exactly one keep-alive socket. */
function loop(i) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${o.url}/token-${i}/data`;
  const next = () => {
    if (!sending) return agent.destroy();
    const sentAt = performance.now();
    totals.sent++;
    outstanding++;
    if (measuring) window.sent++;
    const req = request(url, { method: 'POST', agent, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': payload.length } }, (res) => {
      res.resume();
      res.on('end', () => {
        outstanding--;
        if (res.statusCode === 200) {
          totals.replies++;
          if (measuring) {
            window.replies++;
            latencies.record(performance.now() - sentAt);
          }
        } else {
          totals.errors++;
          if (measuring) window.errors++;
        }
        next();
      });
    });
    req.on('error', (error) => {
      console.error(`connection ${i}: ${error.message}`);
      process.exit(1);
    });
    req.end(payload);
  };
  next();
}

function snapshot() {
  const watched = {};
  for (const pid of o['watch-pid']) watched[pid] = cpuMicros(pid);
  return { at: performance.now(), cpu: process.cpuUsage(), watched };
}

const N = Number(o.connections);
for (let i = 0; i < N; i++) loop(i);
await sleep(Number(o.warmup) * 1000);
const start = snapshot();
measuring = true;
console.log('WINDOW start');
await sleep(Number(o.seconds) * 1000);
measuring = false;
const end = snapshot();
console.log('WINDOW end');
sending = false;
const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
while (outstanding > 0 && Date.now() < drainDeadline) await sleep(20);

const windowMs = end.at - start.at;
const sorted = latencies.sorted();
const r = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
console.log(JSON.stringify({
  connections: N,
  windowSeconds: windowMs / 1000,
  sentPerSec: (window.sent * 1000) / windowMs,
  repliesPerSec: (window.replies * 1000) / windowMs,
  errorsInWindow: window.errors,
  latencyMs: { p50: r(percentile(sorted, 50)), p90: r(percentile(sorted, 90)), p99: r(percentile(sorted, 99)), max: r(percentile(sorted, 100)) },
  totals: { ...totals, outstandingAtEnd: outstanding },
  cpuPercent: ((end.cpu.user - start.cpu.user + end.cpu.system - start.cpu.system) / 10) / windowMs,
  watchedCpuUs: Object.fromEntries(o['watch-pid'].map((pid) => [pid, end.watched[pid] - start.watched[pid]])),
}));
await sleep(200);
process.exit(0);
