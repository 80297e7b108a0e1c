// A seeded MQTT fuzzer for KPC, shared by the bounded test (test/e2e/fuzz.test.ts) and the longer
// `npm run fuzz` (scripts/fuzz.mjs). Plain ESM JavaScript, so both vitest and node import it as is;
// the types are in mqtt-fuzzer.d.mts.
//
// Each case is one short raw TCP connection to 127.0.0.1 (never anywhere else): a few packets made
// with mqtt-packet (CONNECT, PUBLISH, SUBSCRIBE, PINGREQ …), some of them mutated (bit flips,
// truncation, corrupted Remaining Length, random bytes, a second CONNECT, packets before CONNECT,
// huge announced lengths, reserved packet types), written in random-sized chunks. The case is over
// when the server closes the connection or after a short idle time. Case `i` of seed `s` is derived
// from (s, i) alone, so `describeCase(s, i)` shows exactly what was sent.
import { connect } from 'node:net';
import mqttPacket from 'mqtt-packet';

const HOST = '127.0.0.1';

/** mulberry32: small, fast, good enough to pick mutations; fully determined by the seed. */
export function createRng(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min, max) => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    pick: (items) => items[int(0, items.length - 1)],
    chance: (p) => next() < p,
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(0, 255))),
  };
}

export function randomSeed() {
  return Math.floor(Math.random() * 0xffffffff) >>> 0;
}

/** A 32-bit seed for case `index` of run `seed`. */
function caseSeed(seed, index) {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}

function text(rng, max = 24) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_/+#.$ ';
  return Array.from({ length: rng.int(0, max) }, () => rng.pick([...alphabet])).join('');
}

function topic(rng, ctx) {
  const { appVersion, extensions } = ctx.target;
  return rng.pick([
    () => `kp1/${appVersion}/${rng.pick(extensions)}/${rng.pick(['tok-1', 'fuzz', text(rng, 8) || 'x'])}/${text(rng, 10) || 'r'}/${rng.int(0, 5)}`,
    () => `kp1/${appVersion}/${rng.pick(extensions)}/${text(rng)}`,
    () => `kp1/${text(rng)}`,
    () => text(rng, 40) || 't',
    () => `kp1/${appVersion}/${rng.pick(extensions)}/${rng.int(-5, 2 ** 33)}`,
  ])();
}

/** A CONNECT: 3.1, 3.1.1 or 5; good, bad, partial or no credentials; sometimes a will. */
function randomConnect(rng, ctx) {
  const { credentials } = ctx.target;
  const version = rng.pick([4, 4, 4, 3, 5]);
  const who = rng.pick(['good', 'good', 'bad', 'none', 'username-only']);
  return {
    cmd: 'connect',
    protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clean: rng.chance(0.8),
    keepalive: rng.pick([0, 1, 60, 65535]),
    clientId: rng.chance(0.1) ? '' : `fuzz-${rng.int(0, 1e9)}`,
    ...(who === 'good' ? { username: credentials.username, password: Buffer.from(credentials.password) } : {}),
    ...(who === 'bad' ? { username: text(rng, 12) || 'u', password: rng.bytes(rng.int(0, 16)) } : {}),
    ...(who === 'username-only' ? { username: credentials.username } : {}),
    ...(rng.chance(0.2) ? { will: { topic: topic(rng, ctx), payload: rng.bytes(rng.int(0, 32)), qos: rng.int(0, 1), retain: rng.chance(0.5) } } : {}),
  };
}

/** A valid packet of a random kind, as an mqtt-packet object (not yet encoded). */
function validPacket(rng, ctx) {
  const kind = rng.pick(['connect', 'connect', 'publish', 'publish', 'subscribe', 'unsubscribe', 'pingreq', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'disconnect']);
  const messageId = rng.int(1, 65535);
  switch (kind) {
    case 'connect':
      return randomConnect(rng, ctx);
    case 'publish': {
      const qos = rng.pick([0, 0, 1, 1, 2]);
      return {
        cmd: 'publish',
        topic: topic(rng, ctx),
        payload: rng.bytes(rng.pick([0, 1, 16, 200, 3000])),
        qos,
        retain: rng.chance(0.1),
        dup: rng.chance(0.1),
        ...(qos > 0 ? { messageId } : {}),
      };
    }
    case 'subscribe':
      return {
        cmd: 'subscribe',
        messageId,
        subscriptions: Array.from({ length: rng.int(1, 3) }, () => ({ topic: rng.chance(0.5) ? `${topic(rng, ctx)}/#` : topic(rng, ctx), qos: rng.int(0, 2) })),
      };
    case 'unsubscribe':
      return { cmd: 'unsubscribe', messageId, unsubscriptions: [topic(rng, ctx)] };
    case 'pingreq':
      return { cmd: 'pingreq' };
    case 'disconnect':
      return { cmd: 'disconnect' };
    default:
      return { cmd: kind, messageId };
  }
}

function encode(packet) {
  try {
    return mqttPacket.generate(packet);
  } catch {
    return Buffer.from([0xc0, 0x00]); // mqtt-packet refused the object: a PINGREQ instead
  }
}

function encodeRemainingLength(length) {
  const bytes = [];
  do {
    let byte = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) byte |= 0x80;
    bytes.push(byte);
  } while (length > 0);
  return Buffer.from(bytes);
}

/** Mutations of one encoded packet; each returns the bytes to send and a label. */
const MUTATIONS = {
  none: (rng, bytes) => bytes,
  bitflip: (rng, bytes) => {
    const copy = Buffer.from(bytes);
    for (let i = rng.int(1, 8); i > 0; i--) copy[rng.int(0, copy.length - 1)] ^= 1 << rng.int(0, 7);
    return copy;
  },
  truncate: (rng, bytes) => bytes.subarray(0, rng.int(0, Math.max(0, bytes.length - 1))),
  'length-field': (rng, bytes) => {
    const body = bytes.subarray(1 + remainingLengthSize(bytes));
    const claimed = rng.pick([0, 1, body.length - 1, body.length + 1, body.length + rng.int(2, 1000), rng.int(0, 268_435_455)]);
    return Buffer.concat([bytes.subarray(0, 1), encodeRemainingLength(Math.max(0, claimed)), body]);
  },
  'overlong-length': (rng, bytes) => Buffer.concat([bytes.subarray(0, 1), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]), rng.bytes(rng.int(0, 8))]),
  'huge-length': (rng, bytes) => Buffer.concat([bytes.subarray(0, 1), encodeRemainingLength(rng.int(1_000_000, 268_435_455)), rng.bytes(rng.int(0, 64))]),
  'type-byte': (rng, bytes) => Buffer.concat([Buffer.from([rng.pick([0x00, 0xf0, 0x01, 0x31, 0x36, 0x80, 0x8f, 0xa0, 0xe1, rng.int(0, 255)])]), bytes.subarray(1)]),
  'random-bytes': (rng) => rng.bytes(rng.int(1, 512)),
  'append-garbage': (rng, bytes) => Buffer.concat([bytes, rng.bytes(rng.int(1, 64))]),
  'string-length': (rng, bytes) => {
    // Corrupt a 2-byte length prefix inside the variable header (topic, protocol name, client id).
    const copy = Buffer.from(bytes);
    const at = 1 + remainingLengthSize(bytes) + rng.int(0, 12);
    if (at + 1 < copy.length) copy.writeUInt16BE(rng.pick([0, 0xffff, rng.int(0, 0xffff)]), at);
    return copy;
  },
};

function remainingLengthSize(bytes) {
  let i = 1;
  while (i < bytes.length && i < 5 && (bytes[i] & 0x80) !== 0) i++;
  return Math.min(i, bytes.length - 1);
}

/** The plan of case `index` of run `seed`: packets and mutations, and how to write them. */
export function describeCase(seed, index, target) {
  const rng = createRng(caseSeed(seed, index));
  const ctx = { target };
  const shape = rng.pick(['connect-then-stuff', 'connect-then-stuff', 'connect-then-stuff', 'no-connect', 'double-connect', 'garbage-only', 'single-mutated-connect']);
  const steps = [];
  const connectPacket = () => randomConnect(rng, ctx);
  const goodConnect = () => ({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: `fuzz-${rng.int(0, 1e9)}`, username: target.credentials.username, password: Buffer.from(target.credentials.password) });
  const mutationNames = Object.keys(MUTATIONS);
  const mutated = (packet, p) => {
    const mutation = rng.chance(p) ? rng.pick(mutationNames.filter((name) => name !== 'none')) : 'none';
    return { packet, mutation };
  };
  switch (shape) {
    case 'connect-then-stuff':
      steps.push(mutated(rng.chance(0.7) ? goodConnect() : connectPacket(), 0.15));
      for (let i = rng.int(0, 6); i > 0; i--) steps.push(mutated(validPacket(rng, ctx), 0.3));
      break;
    case 'no-connect':
      for (let i = rng.int(1, 4); i > 0; i--) {
        const packet = validPacket(rng, ctx);
        steps.push(mutated(packet.cmd === 'connect' ? { cmd: 'pingreq' } : packet, 0.3));
      }
      break;
    case 'double-connect':
      steps.push(mutated(goodConnect(), 0), mutated(rng.chance(0.5) ? goodConnect() : connectPacket(), 0.3));
      for (let i = rng.int(0, 2); i > 0; i--) steps.push(mutated(validPacket(rng, ctx), 0.3));
      break;
    case 'garbage-only':
      steps.push({ packet: { cmd: 'pingreq' }, mutation: 'random-bytes' });
      break;
    default:
      steps.push(mutated(connectPacket(), 1));
  }
  const frames = steps.map(({ packet, mutation }) => ({ cmd: packet.cmd, mutation, bytes: MUTATIONS[mutation](rng, encode(packet)) }));
  return {
    index,
    seed: caseSeed(seed, index),
    shape,
    frames,
    /** Write in chunks of at most this many bytes (1 = byte by byte). */
    chunk: rng.pick([1, 3, 64, 100_000]),
    idleMs: rng.pick([20, 50, 150]),
    summary: `${shape}: ${frames.map((f) => `${f.cmd}${f.mutation === 'none' ? '' : `~${f.mutation}`}(${f.bytes.length}B)`).join(' ')}`,
  };
}

/** Runs one case on a fresh connection; resolves with how it ended (never rejects). */
function runCase(port, plan, stats) {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let idleTimer;
    let hardTimer;
    let closedByServer = false;
    const finish = (how) => {
      clearTimeout(idleTimer);
      clearTimeout(hardTimer);
      socket.destroy();
      resolve(how);
    };
    parser.on('packet', (packet) => {
      stats.received[packet.cmd] = (stats.received[packet.cmd] ?? 0) + 1;
      if (packet.cmd === 'connack') stats.connacks[packet.returnCode] = (stats.connacks[packet.returnCode] ?? 0) + 1;
    });
    parser.on('error', () => {
      stats.unparseableReplies++;
    });
    socket.on('data', (chunk) => parser.parse(chunk));
    socket.on('error', (error) => {
      stats.socketErrors[error.code ?? 'other'] = (stats.socketErrors[error.code ?? 'other'] ?? 0) + 1;
    });
    socket.on('end', () => {
      closedByServer = true;
    });
    socket.on('close', () => finish(closedByServer ? 'closed-by-server' : 'closed'));
    // Bounded whatever the server does: a case never holds its connection for more than 3 s.
    hardTimer = setTimeout(() => finish('hard-timeout'), 3_000);
    socket.on('connect', async () => {
      socket.setNoDelay(true);
      for (const frame of plan.frames) {
        for (let at = 0; at < frame.bytes.length && !socket.destroyed; at += plan.chunk) {
          socket.write(frame.bytes.subarray(at, at + plan.chunk));
          stats.bytesSent += Math.min(plan.chunk, frame.bytes.length - at);
        }
        stats.packetsSent++;
        stats.mutations[frame.mutation] = (stats.mutations[frame.mutation] ?? 0) + 1;
        if (plan.chunk === 1) await new Promise((r) => setImmediate(r));
      }
      idleTimer = setTimeout(() => finish('idle'), plan.idleMs);
    });
  });
}

/**
 * Fuzzes KPC's MQTT port on 127.0.0.1 until `durationMs` or `maxCases` is reached.
 * `target`: { port, credentials: {username, password}, appVersion, extensions: string[] }.
 * `shouldStop()` is polled between cases (e.g. KPC exited). Resolves with the counts.
 */
export async function runFuzz({ target, seed = randomSeed(), durationMs = 3_000, maxCases = 1_000_000, concurrency = 16, shouldStop = () => false, onProgress, progressEveryMs = 10_000 }) {
  const stats = {
    seed,
    cases: 0,
    packetsSent: 0,
    bytesSent: 0,
    endings: {},
    connacks: {},
    received: {},
    mutations: {},
    shapes: {},
    socketErrors: {},
    unparseableReplies: 0,
    recent: [],
    stoppedEarly: false,
  };
  const deadline = Date.now() + durationMs;
  let next = 0;
  let lastProgress = Date.now();
  const worker = async () => {
    while (Date.now() < deadline && next < maxCases) {
      if (shouldStop()) {
        stats.stoppedEarly = true;
        return;
      }
      const index = next++;
      const plan = describeCase(seed, index, target);
      stats.recent.push(`#${index} ${plan.summary}`);
      if (stats.recent.length > 20) stats.recent.shift();
      stats.shapes[plan.shape] = (stats.shapes[plan.shape] ?? 0) + 1;
      const ending = await runCase(target.port, plan, stats);
      stats.endings[ending] = (stats.endings[ending] ?? 0) + 1;
      stats.cases++;
      if (onProgress && Date.now() - lastProgress >= progressEveryMs) {
        lastProgress = Date.now();
        onProgress(stats);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return stats;
}

/**
 * After a run: one good client on a fresh connection connects and completes a request (QoS 1,
 * answer on `<topic>/status`). Resolves with a problem description, or null when all is well.
 */
export function goodRequest({ port, credentials, topic, timeoutMs = 10_000 }) {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let stage = 'connecting';
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms (stage: ${stage})`), timeoutMs);
    const done = (problem) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(problem);
    };
    socket.on('error', (error) => done(`socket error at stage ${stage}: ${error.message}`));
    socket.on('close', () => done(`connection closed at stage ${stage}`));
    socket.on('data', (chunk) => parser.parse(chunk));
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connack') {
        if (packet.returnCode !== 0) return done(`CONNACK ${packet.returnCode}`);
        stage = 'awaiting the response';
        socket.write(mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from('after fuzzing'), qos: 1, messageId: 1, retain: false, dup: false }));
      } else if (packet.cmd === 'publish') {
        if (packet.topic === `${topic}/status`) done(null);
        else if (packet.topic === `${topic}/error`) done(`error response: ${packet.payload.toString()}`);
      }
    });
    socket.on('connect', () => {
      stage = 'awaiting CONNACK';
      socket.write(
        mqttPacket.generate({
          cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: `fuzz-check-${Date.now()}`,
          username: credentials.username, password: Buffer.from(credentials.password),
        }),
      );
    });
  });
}

/** A one-line-per-group text report of `runFuzz`'s counts. */
export function formatStats(stats) {
  const line = (label, counts) => `  ${label}: ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ') || '-'}`;
  return [
    `seed ${stats.seed}: ${stats.cases} connections, ${stats.packetsSent} packets, ${stats.bytesSent} bytes${stats.stoppedEarly ? ' (stopped early)' : ''}`,
    line('shapes', stats.shapes),
    line('mutations', stats.mutations),
    line('endings', stats.endings),
    line('CONNACK codes', stats.connacks),
    line('packets received', stats.received),
    line('socket errors', stats.socketErrors),
    `  unparseable replies: ${stats.unparseableReplies}`,
  ].join('\n');
}
