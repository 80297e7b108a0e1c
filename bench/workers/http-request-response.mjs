// 1/KP over HTTP request/response load through KPC and an echo extension, in its own process: the
// HTTP counterpart of request-response.mjs. Each of --connections keep-alive connections POSTs to
// `<url>/token-<i>/data` (no request ID: KPC picks one) and sends the next request when the answer
// has been read (closed loop, one request in flight per connection: HTTP/1.1 without pipelining).
// Round trip = request written → response read. A status other than 200 counts as an error.
// Prints `WINDOW start` / `WINDOW end`, then one JSON line. --watch-pid as in load-generator.mjs.
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { measuredWindow, windowReport } from '../lib/measured-window.mjs';
import { LatencyRecorder } from '../lib/stats.mjs';

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

const N = Number(o.connections);
for (let i = 0; i < N; i++) loop(i);
const measured = await measuredWindow(
  { warmup: o.warmup, seconds: o.seconds, watchPids: o['watch-pid'] },
  { setMeasuring: (on) => (measuring = on), stopSending: () => (sending = false), outstanding: () => outstanding },
);
console.log(JSON.stringify({
  connections: N,
  ...windowReport(measured, window, latencies, o['watch-pid']),
  totals: { ...totals, outstandingAtEnd: outstanding },
}));
await sleep(200);
process.exit(0);
