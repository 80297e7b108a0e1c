// 1/KP request/response load through KPC and an echo extension, in its own process.
// Each client i publishes requests to `<topic i>/<n>` (n = a request id, increasing per client)
// and waits for the reply on `<topic i>/<n>/status` (KPC sends it to the requesting connection
// without a SUBSCRIBE). Round trip = PUBLISH written → its /status PUBLISH read, per request.
//   --rate 0  closed loop: every client keeps --inflight requests outstanding, the next one sent
//             when a reply arrives; the reply rate is the maximum request rate.
//   --rate R  open loop: R requests/s in total, due every millisecond and spread round-robin over
//             the clients, whatever the replies do (so queueing shows in the latency).
// Requests at --qos (1: the replies come at QoS 1 too and are PUBACKed; the server's PUBACKs of the
// requests are counted only). A reply on /error counts as an error, not a round trip.
// Prints `WINDOW start` / `WINDOW end`, then one JSON line. --watch-pid as in load-generator.mjs.
import { connect as connectTcp } from 'node:net';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { CONNACK, DISCONNECT, FrameReader, PUBACK, PUBLISH, connectPacket, parsePublish, pubackPacket, publishPacket } from '../lib/mqtt-wire.mjs';
import { measuredWindow, windowReport } from '../lib/measured-window.mjs';
import { LatencyRecorder } from '../lib/stats.mjs';
import { withTimeout } from '../lib/timeout.mjs';

const { values: o } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    clients: { type: 'string', default: '100' },
    inflight: { type: 'string', default: '4' },
    rate: { type: 'string', default: '0' },
    qos: { type: 'string', default: '1' },
    payload: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '10' },
    topic: { type: 'string', default: 'kp1/bench_v1/bench/token-{i}/data' },
    username: { type: 'string', default: 'bench-{i}' },
    password: { type: 'string', default: 'pw-{i}' },
    'watch-pid': { type: 'string', multiple: true, default: [] },
  },
});
const N = Number(o.clients);
const W = Number(o.inflight);
const RATE = Number(o.rate);
const QOS = Number(o.qos);
const CONNECT_TIMEOUT_MS = 30_000;
const fill = (template, i) => template.replaceAll('{i}', String(i));
const payload = Buffer.alloc(Number(o.payload), 'x');
if (!o.port) fail('--port is required');

function fail(message) {
  console.error(`request-response: ${message}`);
  process.exit(1);
}

const latencies = new LatencyRecorder(); // ms

let sending = true;
let measuring = false;
const totals = { sent: 0, replies: 0, errors: 0, pubacks: 0, unexpected: 0 };
const window = { sent: 0, replies: 0, errors: 0 };
let outstanding = 0;

function openClient(i) {
  const base = fill(o.topic, i);
  const client = { i, base, nextRequestId: 0, nextPacketId: 1, sentAt: new Map(), socket: connectTcp({ host: o.host, port: Number(o.port) }) };
  client.socket.setNoDelay(true);
  return new Promise((resolve, reject) => {
    const acks = [];
    const reader = new FrameReader((type, flags, body) => {
      if (type === PUBLISH) {
        const { topic, id } = parsePublish(flags, body);
        if (id !== null) acks.push(pubackPacket(id));
        onReply(client, topic);
      } else if (type === PUBACK) {
        totals.pubacks++;
      } else if (type === CONNACK) {
        if (body[1] === 0) resolve(client);
        else reject(new Error(`client ${i}: CONNACK return code ${body[1]}`));
      }
    });
    client.socket.on('data', (chunk) => {
      reader.push(chunk);
      if (acks.length > 0) client.socket.write(acks.length === 1 ? acks[0] : Buffer.concat(acks));
      acks.length = 0;
    });
    client.socket.on('error', (error) => reject(new Error(`client ${i}: ${error.message}`)));
    client.socket.on('close', () => {
      if (sending) fail(`client ${i}: the server closed the connection`);
    });
    client.socket.write(connectPacket({ clientId: `bench-rr-${process.pid}-${i}`, username: fill(o.username, i), password: fill(o.password, i), keepalive: 60 }));
  });
}

function onReply(client, topic) {
  // `<base>/<n>/status` or `<base>/<n>/error`
  const end = topic.lastIndexOf('/');
  const kind = topic.slice(end + 1);
  const requestId = Number(topic.slice(client.base.length + 1, end));
  const sentAt = client.sentAt.get(requestId);
  if (sentAt === undefined || !topic.startsWith(client.base)) {
    totals.unexpected++;
    return;
  }
  client.sentAt.delete(requestId);
  outstanding--;
  const now = performance.now();
  if (kind === 'status') {
    totals.replies++;
    if (measuring) {
      window.replies++;
      latencies.record(now - sentAt);
    }
  } else {
    totals.errors++;
    if (measuring) window.errors++;
  }
  if (RATE === 0 && sending) sendRequests(client, 1);
}

/** `count` requests from one client in one write. */
function sendRequests(client, count) {
  const packets = new Array(count);
  const now = performance.now();
  for (let k = 0; k < count; k++) {
    const requestId = client.nextRequestId;
    client.nextRequestId = (client.nextRequestId + 1) % 2_147_483_647;
    packets[k] = publishPacket(`${client.base}/${requestId}`, payload, QOS, client.nextPacketId);
    client.nextPacketId = client.nextPacketId === 65_535 ? 1 : client.nextPacketId + 1;
    client.sentAt.set(requestId, now);
  }
  totals.sent += count;
  outstanding += count;
  if (measuring) window.sent += count;
  client.socket.write(count === 1 ? packets[0] : Buffer.concat(packets));
}

function paceOpenLoop(clients) {
  const started = performance.now();
  let next = 0;
  let issued = 0;
  const perClient = new Array(clients.length).fill(0);
  const timer = setInterval(() => {
    if (!sending) return clearInterval(timer);
    const due = Math.floor(((performance.now() - started) / 1000) * RATE) - issued;
    if (due <= 0) return;
    for (let k = 0; k < due; k++, next = (next + 1) % clients.length) perClient[next]++;
    for (let c = 0; c < clients.length; c++) {
      if (perClient[c] > 0) sendRequests(clients[c], perClient[c]);
      perClient[c] = 0;
    }
    issued += due;
  }, 1);
}

async function main() {
  const clients = new Array(N);
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < N) {
      const i = nextIndex++;
      clients[i] = await openClient(i);
    }
  };
  await withTimeout(Promise.all(Array.from({ length: Math.min(32, N) }, worker)), CONNECT_TIMEOUT_MS, `not all ${N} clients connected`);

  if (RATE === 0) for (const client of clients) sendRequests(client, W);
  else paceOpenLoop(clients);

  const measured = await measuredWindow(
    { warmup: o.warmup, seconds: o.seconds, watchPids: o['watch-pid'] },
    { setMeasuring: (on) => (measuring = on), stopSending: () => (sending = false), outstanding: () => outstanding },
  );
  for (const client of clients) client.socket.end(DISCONNECT);

  console.log(JSON.stringify({
    clients: N, inflight: RATE === 0 ? W : null, rate: RATE, qos: QOS,
    ...windowReport(measured, window, latencies, o['watch-pid']),
    totals: { ...totals, outstandingAtEnd: outstanding },
  }));
  await sleep(200);
  process.exit(0);
}

main().catch((error) => fail(error.message));
