// MQTT 3.1.1 load generator, run in its own process (by bench/run.mjs) so that its CPU use is its
// own and it cannot slow the orchestrator. Raw sockets + mqtt-packet: mqtt.js costs too much per
// message to drive tens of thousands of msg/s from one core.
//
// QoS 1 (closed loop): N clients each keep W PUBLISHes in flight; each PUBACK sends the next one
// with the same packet id (an id is free exactly when it was acknowledged). Latency = PUBLISH
// written → PUBACK read, per message, for acks that arrive in the measured window.
// QoS 0 (open loop): --rate R msg/s in total across the clients (paced every 2 ms), or --rate 0 =
// as fast as the sockets drain (kernel backpressure is the only brake). There is no ack, so only
// the send rate is measured here; the orchestrator counts what reached NATS. At --rate 0 the send rate means little:
// the sockets' kernel buffers soon hold seconds of backlog and the generator mostly waits for
// 'drain', while the server works through the backlog at its own capacity.
// Prints `WINDOW start` / `WINDOW end` on stdout at the edges of the measured window.
//
// Topic, username and password are templates: `{i}` becomes the client index (0..N-1).
// --watch-pid PID (repeatable): CPU time of those processes over exactly the measured window.
// Output: one JSON line on stdout. Diagnostics go to stderr.
import { connect as connectTcp } from 'node:net';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import mqttPacket from 'mqtt-packet';
import { LatencyRecorder, percentile } from './lib/stats.mjs';
import { cpuMicros } from './lib/proc-cpu.mjs';
import { withTimeout } from './lib/timeout.mjs';

const { values: o } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    clients: { type: 'string', default: '100' },
    inflight: { type: 'string', default: '4' },
    payload: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '10' },
    qos: { type: 'string', default: '1' },
    rate: { type: 'string', default: '0' },
    topic: { type: 'string', default: 'bench/{i}' },
    username: { type: 'string' },
    password: { type: 'string' },
    'watch-pid': { type: 'string', multiple: true, default: [] },
  },
});
const N = Number(o.clients);
const W = Number(o.inflight);
const QOS = Number(o.qos);
const RATE = Number(o.rate);
const CONNECT_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MS = 10_000;
if (!o.port) fail('--port is required');
if (QOS !== 0 && QOS !== 1) fail('--qos must be 0 or 1');

const fill = (template, i) => template?.replaceAll('{i}', String(i));
const payload = Buffer.alloc(Number(o.payload), 'x');

const latencies = new LatencyRecorder(); // us

let sending = true;
let measuring = false;
let acked = 0; // all, warm-up included (for the received ≥ acknowledged check)
let ackedInWindow = 0;
let sent = 0;
let inFlight = 0;

function fail(message) {
  console.error(`load-generator: ${message}`);
  process.exit(1);
}

/** One client: its socket, its PUBLISH template, and the send time of each packet id in flight. */
function openClient(i) {
  const template = mqttPacket.generate({ cmd: 'publish', topic: fill(o.topic, i), payload, qos: QOS, messageId: QOS ? 1 : undefined, retain: false, dup: false });
  const client = {
    socket: connectTcp({ host: o.host, port: Number(o.port) }),
    template,
    idOffset: template.length - payload.length - 2, // the packet id sits right before the payload
    sentAt: new Array(W + 1).fill(0n),
  };
  client.socket.setNoDelay(true);
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  return new Promise((resolve, reject) => {
    let ids = []; // packet ids acknowledged in the chunk being parsed
    parser.on('packet', (packet) => {
      if (packet.cmd === 'puback') ids.push(packet.messageId);
      else if (packet.cmd === 'connack') {
        if (packet.returnCode === 0) resolve(client);
        else reject(new Error(`client ${i}: CONNACK return code ${packet.returnCode}`));
      }
    });
    parser.on('error', (error) => reject(new Error(`client ${i}: unparsable data from server: ${error.message}`)));
    client.socket.on('data', (chunk) => {
      parser.parse(chunk);
      if (ids.length === 0) return;
      // Everything in one chunk arrived together: one clock read, one write for all the follow-ups.
      const now = process.hrtime.bigint();
      for (const id of ids) {
        if (measuring) {
          latencies.record(Number(now - client.sentAt[id]) / 1000);
          ackedInWindow++;
        }
      }
      acked += ids.length;
      inFlight -= ids.length;
      if (sending) sendQos1(client, ids, now);
      ids = [];
    });
    client.socket.on('error', (error) => reject(new Error(`client ${i}: ${error.message}`)));
    client.socket.on('close', () => {
      if (sending) fail(`client ${i}: the server closed the connection`);
    });
    client.socket.write(
      mqttPacket.generate({
        cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: `bench-${process.pid}-${i}`,
        username: fill(o.username, i), password: o.password === undefined ? undefined : Buffer.from(fill(o.password, i)),
      }),
    );
  });
}

/** Writes one PUBLISH per packet id, all in one buffer (copies: the socket may still hold the last one). */
function sendQos1(client, ids, now) {
  const size = client.template.length;
  const out = Buffer.allocUnsafe(size * ids.length);
  for (let k = 0; k < ids.length; k++) {
    client.template.copy(out, k * size);
    out.writeUInt16BE(ids[k], k * size + client.idOffset);
    client.sentAt[ids[k]] = now;
  }
  sent += ids.length;
  inFlight += ids.length;
  client.socket.write(out);
}

/** QoS 0 without a rate: keep each socket's buffer full; a QoS 0 packet has no id, so one buffer serves all. */
function pumpQos0(client, batch, packetsPerBatch) {
  for (let k = 0; k < 8 && sending; k++) {
    sent += packetsPerBatch;
    if (!client.socket.write(batch)) return void client.socket.once('drain', () => pumpQos0(client, batch, packetsPerBatch));
  }
  if (sending) setImmediate(() => pumpQos0(client, batch, packetsPerBatch)); // let acks, timers and other clients run
}

/**
 * QoS 0 at a fixed total rate: every 2 ms, send what is due, spread round-robin over the clients,
 * one write per client per tick (its PUBLISH repeated: a QoS 0 packet has no id, so copies of one
 * client's packet are interchangeable). Writes are never held back: a target that cannot keep up
 * leaves the excess queued in the generator, and what it delivered is counted at NATS.
 */
function paceQos0(clients) {
  const started = performance.now();
  const batches = clients.map((client) => Buffer.concat(Array(64).fill(client.template)));
  const perClient = new Array(clients.length).fill(0);
  let next = 0;
  let issued = 0;
  const timer = setInterval(() => {
    if (!sending) return clearInterval(timer);
    const due = Math.floor(((performance.now() - started) / 1000) * RATE) - issued;
    if (due <= 0) return;
    for (let k = 0; k < due; k++, next = (next + 1) % clients.length) perClient[next]++;
    for (let c = 0; c < clients.length; c++) {
      const size = clients[c].template.length;
      for (let left = perClient[c]; left > 0; left -= 64) clients[c].socket.write(batches[c].subarray(0, Math.min(left, 64) * size));
      perClient[c] = 0;
    }
    issued += due;
    sent += due;
  }, 2);
}

async function connectAll() {
  const clients = new Array(N);
  let nextIndex = 0;
  // At most 64 handshakes at once: a burst of thousands would overflow accept queues, not measure anything.
  const worker = async () => {
    while (nextIndex < N) {
      const i = nextIndex++;
      clients[i] = await openClient(i);
    }
  };
  await withTimeout(Promise.all(Array.from({ length: Math.min(64, N) }, worker)), CONNECT_TIMEOUT_MS, `not all ${N} clients connected`);
  return clients;
}

function snapshot() {
  const watched = {};
  for (const pid of o['watch-pid']) watched[pid] = cpuMicros(pid);
  return { at: process.hrtime.bigint(), cpu: process.cpuUsage(), sent, watched };
}

async function main() {
  const connectStarted = performance.now();
  const clients = await connectAll();
  const connectSeconds = (performance.now() - connectStarted) / 1000;

  if (QOS === 1) {
    const ids = Array.from({ length: W }, (_, k) => k + 1);
    for (const client of clients) sendQos1(client, ids, process.hrtime.bigint());
  } else if (RATE > 0) {
    paceQos0(clients);
  } else {
    const packetsPerBatch = Math.max(1, Math.floor(16_384 / clients[0].template.length));
    for (const client of clients) pumpQos0(client, Buffer.concat(Array(packetsPerBatch).fill(client.template)), packetsPerBatch);
  }

  await sleep(Number(o.warmup) * 1000);
  const start = snapshot();
  measuring = true;
  console.log('WINDOW start'); // the orchestrator counts what reaches NATS between the two marks
  await sleep(Number(o.seconds) * 1000);
  measuring = false;
  const end = snapshot();
  console.log('WINDOW end');
  sending = false;

  // Let the messages in flight be acknowledged, so every sent message is accounted for.
  const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
  while (QOS === 1 && inFlight > 0 && Date.now() < drainDeadline) await sleep(20);
  const disconnect = mqttPacket.generate({ cmd: 'disconnect' });
  for (const client of clients) client.socket.end(disconnect);

  const windowUs = Number(end.at - start.at) / 1000;
  const cpuUs = end.cpu.user - start.cpu.user + (end.cpu.system - start.cpu.system);
  const sorted = latencies.sorted();
  const ms = (us) => (us === null ? null : Math.round(us) / 1000);
  const result = {
    qos: QOS, clients: N, inflight: QOS === 1 ? W : null, payloadBytes: payload.length, rate: QOS === 0 ? RATE : null,
    connectSeconds: Math.round(connectSeconds * 1000) / 1000,
    windowSeconds: windowUs / 1e6,
    // QoS 1: acknowledged messages; QoS 0: sent messages (nothing is acknowledged).
    msgPerSec: ((QOS === 1 ? ackedInWindow : end.sent - start.sent) * 1e6) / windowUs,
    ackedInWindow: QOS === 1 ? ackedInWindow : null,
    sentInWindow: end.sent - start.sent,
    latencyMs: QOS === 1 ? { p50: ms(percentile(sorted, 50)), p90: ms(percentile(sorted, 90)), p99: ms(percentile(sorted, 99)), max: ms(percentile(sorted, 100)) } : null,
    totalSent: sent,
    totalAcked: QOS === 1 ? acked : null,
    unackedAtEnd: QOS === 1 ? inFlight : null,
    cpuPercent: (cpuUs * 100) / windowUs, // 100 = one core busy all the time: the generator is saturated
    watchedCpuUs: Object.fromEntries(o['watch-pid'].map((pid) => [pid, end.watched[pid] - start.watched[pid]])),
  };
  console.log(JSON.stringify(result));
  await sleep(200); // let the DISCONNECTs go out before the sockets die with the process
  process.exit(0);
}

main().catch((error) => fail(error.message));
