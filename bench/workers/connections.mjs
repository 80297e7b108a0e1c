// Many MQTT clients in one process, for the connection scenarios (storm, idle scale, revocation).
// Raw sockets and hand-made framing (bench/lib/mqtt-wire.mjs): tens of thousands of clients per
// process cost only their sockets.
//
// Each client i (--first .. --first+--clients-1): TCP connect (from --local-address, round-robin
// over a comma-separated list: one source address has only ~28k ephemeral ports), CONNECT with
// the templated username/password, and with --publish one QoS 1 PUBLISH to the templated topic
// once CONNACK 0 came; it is done at CONNACK 0 (or at its PUBACK with --publish).
// --concurrency C: at most C clients between their SYN and being done (0 = all at once: a storm).
// Every --timeout s at most; what is not done by then counts as failed ("timeout").
//
// Prints on stdout: `PROGRESS {json}` every second, `CONNECTED {json}` once every client is done or
// failed, then by --mode:
//   storm   exits (closing every socket);
//   hold    keeps the clients idle until SIGTERM (a client the server closes is counted);
//   revoke  connects to --nats and, one at a time, publishes a 16/ECAP ClientCredentialRevokedEvent
//           for cred-<username> of --revocations clients spread evenly over the connected ones, and
//           measures from just before that publish to the moment its socket is closed by the
//           server (FIN or RST, whichever it sees first); prints `RESULT {json}` and exits.
import { connect as connectTcp } from 'node:net';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { CONNACK, FrameReader, PUBACK, connectPacket, publishPacket } from '../lib/mqtt-wire.mjs';
import { percentile } from '../lib/stats.mjs';

const { values: o } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    clients: { type: 'string', default: '1000' },
    first: { type: 'string', default: '0' },
    'local-address': { type: 'string', default: '' },
    concurrency: { type: 'string', default: '0' },
    publish: { type: 'boolean', default: false },
    topic: { type: 'string', default: 'kp1/bench_v1/bench/token-{i}/data' },
    username: { type: 'string', default: 'bench-{i}' },
    password: { type: 'string', default: 'pw-{i}' },
    keepalive: { type: 'string', default: '0' }, // no PINGREQ: an idle client is really idle
    timeout: { type: 'string', default: '60' },
    mode: { type: 'string', default: 'storm' },
    nats: { type: 'string' },
    'cm-instance': { type: 'string', default: 'cm' },
    revocations: { type: 'string', default: '200' },
    'revoke-gap-ms': { type: 'string', default: '10' },
    'revoke-timeout-ms': { type: 'string', default: '5000' },
  },
});
const N = Number(o.clients);
const FIRST = Number(o.first);
const CONCURRENCY = Number(o.concurrency) || N;
const addresses = o['local-address'] ? o['local-address'].split(',') : [undefined];
const payload = Buffer.alloc(100, 'x');
const fill = (template, i) => template.replaceAll('{i}', String(i));
if (!o.port) fail('--port is required');
if (!['storm', 'hold', 'revoke'].includes(o.mode)) fail(`unknown --mode ${o.mode}`);
if (o.mode === 'revoke' && !o.nats) fail('--mode revoke needs --nats');

function fail(message) {
  console.error(`connections: ${message}`);
  process.exit(1);
}

const clients = [];
const counts = { attempted: 0, connected: 0, published: 0, done: 0, failed: 0, closedAfterDone: 0 };
const reasons = new Map();
const connackMs = []; // SYN → CONNACK 0, per client
const pubackMs = []; // PUBLISH → PUBACK, per client
let t0 = 0;
let firstConnackAt = null;
let lastConnackAt = null;
let lastDoneAt = null;
let finishedAll;
const allFinished = new Promise((resolve) => (finishedAll = resolve));
let slotFree = null; // resolves when a client leaves the connecting state (concurrency)

function settle(client, ok, reason) {
  if (client.settled) return;
  client.settled = true;
  client.ok = ok;
  if (ok) {
    counts.done++;
    lastDoneAt = performance.now();
  } else {
    counts.failed++;
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    reset(client.socket);
  }
  const waiting = slotFree;
  slotFree = null;
  waiting?.();
  if (counts.done + counts.failed === N) finishedAll();
}

function start(i) {
  counts.attempted++;
  const client = { i, settled: false, ok: false, error: null, startedAt: performance.now(), closedAt: null, onClose: null };
  const username = fill(o.username, i);
  client.socket = connectTcp({ host: o.host, port: Number(o.port), localAddress: addresses[i % addresses.length] });
  client.socket.setNoDelay(true);
  client.username = username;
  const reader = new FrameReader((type, _flags, body) => {
    if (type === CONNACK) {
      const code = body[1];
      if (code !== 0) return settle(client, false, `CONNACK ${code}`);
      const now = performance.now();
      counts.connected++;
      connackMs.push(now - client.startedAt);
      firstConnackAt ??= now;
      lastConnackAt = now;
      if (!o.publish) return settle(client, true);
      client.publishedAt = now;
      client.socket.write(publishPacket(fill(o.topic, i), payload, 1, 1));
    } else if (type === PUBACK && !client.settled) {
      counts.published++;
      pubackMs.push(performance.now() - client.publishedAt);
      settle(client, true);
    }
  });
  client.socket.on('connect', () => client.socket.write(connectPacket({ clientId: `bench-${i}`, username, password: fill(o.password, i), keepalive: Number(o.keepalive) })));
  client.socket.on('data', (chunk) => reader.push(chunk));
  client.socket.on('error', (error) => (client.error ??= error.code ?? error.message));
  const closed = () => {
    if (client.closedAt !== null) return;
    client.closedAt = performance.now();
    if (!client.settled) settle(client, false, client.error ? `socket ${client.error}` : 'closed by the server before being done');
    else if (client.ok && !stopping) counts.closedAfterDone++;
    client.onClose?.(client.closedAt);
  };
  client.socket.on('end', closed);
  client.socket.on('close', closed);
  clients.push(client);
}

/**
 * Closes with an RST, not a FIN: a client-side close would leave a TIME_WAIT entry per socket for
 * 60 s, and thousands of them on a source address make every later bind() to it scan the whole
 * port range (seconds of system time per thousand connects).
 */
function reset(socket) {
  if (!socket.destroyed) socket.resetAndDestroy();
}

let stopping = false;
function closeAll() {
  stopping = true;
  for (const client of clients) reset(client.socket);
}
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    closeAll();
    process.exit(0);
  });
}

function reasonsObject() {
  return Object.fromEntries([...reasons].sort((a, b) => b[1] - a[1]));
}

const progress = setInterval(() => {
  console.log(`PROGRESS ${JSON.stringify({ ...counts, seconds: round((performance.now() - t0) / 1000, 1), reasons: reasonsObject() })}`);
}, 1_000);

const round = (x, digits = 3) => (x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits);
const summarize = (values) => {
  const sorted = Float64Array.from(values).sort();
  return { p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(percentile(sorted, 100)) };
};

async function connectAll() {
  const deadline = performance.now() + Number(o.timeout) * 1000;
  t0 = performance.now();
  let next = 0;
  const timer = setTimeout(() => {
    // Out of time: every client not done yet is failed, and no new one starts.
    next = N;
    for (const client of clients) if (!client.settled) settle(client, false, 'timeout');
    for (let k = counts.attempted; k < N; k++) reasons.set('not started (timeout)', (reasons.get('not started (timeout)') ?? 0) + 1);
    counts.failed += N - counts.attempted;
    finishedAll();
  }, Math.max(0, deadline - performance.now()));
  while (next < N) {
    while (next < N && counts.attempted - counts.done - counts.failed < CONCURRENCY) start(FIRST + next++);
    if (next < N) await new Promise((resolve) => (slotFree = resolve));
  }
  await allFinished;
  clearTimeout(timer);
  const spanMs = lastConnackAt === null ? null : lastConnackAt - t0;
  return {
    clients: N,
    first: FIRST,
    localAddresses: addresses.filter(Boolean),
    concurrency: Number(o.concurrency) || 'all',
    ...counts,
    reasons: reasonsObject(),
    // First connect() (its SYN) to the last CONNACK 0 received.
    spanMs: round(spanMs, 1),
    firstConnackMs: firstConnackAt === null ? null : round(firstConnackAt - t0, 1),
    connectsPerSec: spanMs ? Math.round((counts.connected * 1000) / spanMs) : null,
    doneSpanMs: lastDoneAt === null ? null : round(lastDoneAt - t0, 1),
    connackMs: summarize(connackMs),
    pubackMs: o.publish ? summarize(pubackMs) : null,
  };
}

async function revoke(connected) {
  const { connect } = await import('nats');
  const { codecs } = await import('../../dist/infra/nats/codecs.js');
  const nc = await connect({ servers: o.nats, name: 'bench revoker' });
  const subject = `kaa.v1.events.${o['cm-instance']}.client.credential.revoked`;
  const wanted = Math.min(Number(o.revocations), connected.length);
  const step = connected.length / wanted;
  const latencies = [];
  const misses = [];
  const closedBefore = counts.closedAfterDone;
  for (let k = 0; k < wanted; k++) {
    const client = connected[Math.floor(k * step)];
    const credentialId = `cred-${client.username}`;
    const event = codecs.credentialRevoked.encode({ correlationId: randomUUID(), timestamp: Date.now(), timeout: 0, credentialId, originatorReplicaId: 'bench-revoker' });
    let timer;
    const closedAt = new Promise((resolve) => {
      client.onClose = resolve;
      timer = setTimeout(() => resolve(null), Number(o['revoke-timeout-ms']));
    });
    const publishedAt = performance.now();
    nc.publish(subject, event);
    const at = await closedAt;
    clearTimeout(timer);
    if (at === null) misses.push(credentialId);
    else latencies.push(at - publishedAt);
    await sleep(Number(o['revoke-gap-ms']));
  }
  await nc.close();
  const sorted = Float64Array.from(latencies).sort();
  return {
    connected: connected.length,
    revoked: wanted,
    closed: latencies.length,
    notClosedInTime: misses.length,
    firstMisses: misses.slice(0, 5),
    // Clients closed during the revocations other than the ones revoked (should be 0).
    otherClientsClosed: counts.closedAfterDone - closedBefore - latencies.length,
    latencyMs: { p50: round(percentile(sorted, 50)), p90: round(percentile(sorted, 90)), p99: round(percentile(sorted, 99)), max: round(percentile(sorted, 100)), min: round(percentile(sorted, 0)) },
  };
}

try {
  const summary = await connectAll();
  console.log(`CONNECTED ${JSON.stringify(summary)}`);
  if (o.mode === 'storm') {
    closeAll();
    clearInterval(progress);
    await sleep(100);
    process.exit(0);
  }
  if (o.mode === 'revoke') {
    const connected = clients.filter((client) => client.ok && client.closedAt === null);
    const result = await revoke(connected);
    console.log(`RESULT ${JSON.stringify(result)}`);
    closeAll();
    process.exit(0);
  }
  // hold: stay idle (the progress timer keeps reporting) until SIGTERM.
} catch (error) {
  fail(error.stack ?? error.message);
}
