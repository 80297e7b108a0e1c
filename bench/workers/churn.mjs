// Connection churn for the soak scenario: --clients short-lived MQTT clients, at most
// --concurrency at a time, each doing one of five things by its number i (--first ..):
//   i % 5 = 0  request: CONNECT bench-<u>, a QoS 1 request on token-<u>, wait for its /status, DISCONNECT
//           1  bad password: CONNECT bench-<u> with a wrong password (CONNACK 4)
//           2  bad token: a request on a token the provider refuses, wait for its /error, then RST
//           3  abrupt close: a request, then RST at once (the reply finds the client gone)
//           4  revoked: a request, its /status, then a 16/ECAP ClientCredentialRevokedEvent for
//              cred-bench-<u> on --nats; wait until KPC closes the socket
// where u = i % --users (the dev provider knows bench-<u>/pw-<u> and token-<u>). Every client ends
// in at most --client-timeout ms; prints `RESULT {json}` (counts and failures by reason) and exits.
import { connect as connectTcp } from 'node:net';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CONNACK, DISCONNECT, FrameReader, PUBLISH, connectPacket, parsePublish, publishPacket } from '../lib/mqtt-wire.mjs';

const { values: o } = parseArgs({
  options: {
    port: { type: 'string' },
    clients: { type: 'string', default: '1000' },
    first: { type: 'string', default: '0' },
    users: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '100' },
    'local-address': { type: 'string', default: '' },
    nats: { type: 'string' },
    'client-timeout': { type: 'string', default: '10000' },
  },
});
if (!o.port || !o.nats) {
  console.error('churn: --port and --nats are required');
  process.exit(1);
}
const N = Number(o.clients);
const FIRST = Number(o.first);
const USERS = Number(o.users);
const CONCURRENCY = Number(o.concurrency);
const addresses = o['local-address'] ? o['local-address'].split(',') : [undefined];
const BEHAVIOURS = ['request', 'bad-password', 'bad-token', 'abrupt-close', 'revoked'];

const { connect: connectNats } = await import('nats');
const { codecs } = await import('../../dist/infra/nats/codecs.js');
const nc = await connectNats({ servers: o.nats, name: 'bench churn' });
const revokedSubject = 'kaa.v1.events.cm.client.credential.revoked';

const done = Object.fromEntries(BEHAVIOURS.map((b) => [b, 0]));
const failures = new Map();
let running = 0;
let started = 0;
let finished = 0;
let wake = null;

function runClient(i) {
  const behaviour = BEHAVIOURS[i % BEHAVIOURS.length];
  const u = i % USERS;
  const token = behaviour === 'bad-token' ? `unknown-token-${i}` : `token-${u}`;
  const topic = `kp1/bench_v1/bench/${token}/data/1`;
  const socket = connectTcp({ host: '127.0.0.1', port: Number(o.port), localAddress: addresses[i % addresses.length] });
  socket.setNoDelay(true);
  let settled = false;
  const finish = (failure) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    if (failure) failures.set(`${behaviour}: ${failure}`, (failures.get(`${behaviour}: ${failure}`) ?? 0) + 1);
    else done[behaviour]++;
    if (!socket.destroyed) socket.resetAndDestroy(); // no TIME_WAIT left on the source address
    running--;
    finished++;
    wake?.();
  };
  const timer = setTimeout(() => finish('timeout'), Number(o['client-timeout']));
  let awaitingClose = false;
  socket.on('error', () => {});
  socket.on('close', () => (awaitingClose ? finish() : finish('closed by the server early')));
  socket.on('connect', () => {
    const password = behaviour === 'bad-password' ? 'wrong' : `pw-${u}`;
    socket.write(connectPacket({ clientId: `churn-${i}`, username: `bench-${u}`, password }));
  });
  const reader = new FrameReader((type, flags, body) => {
    if (type === CONNACK) {
      const code = body[1];
      if (behaviour === 'bad-password') return code === 4 ? finish() : finish(`CONNACK ${code}, expected 4`);
      if (code !== 0) return finish(`CONNACK ${code}`);
      socket.write(publishPacket(topic, Buffer.from(`churn ${i}`), 1, 1));
      if (behaviour === 'abrupt-close') finish();
    } else if (type === PUBLISH) {
      const reply = parsePublish(flags, body);
      if (behaviour === 'bad-token') return reply.topic === `${topic}/error` ? finish() : finish(`reply on ${reply.topic}`);
      if (reply.topic !== `${topic}/status`) return finish(`reply on ${reply.topic}`);
      awaitingClose = true;
      if (behaviour === 'request') return socket.write(DISCONNECT);
      const event = codecs.credentialRevoked.encode({ correlationId: randomUUID(), timestamp: Date.now(), timeout: 0, credentialId: `cred-bench-${u}`, originatorReplicaId: 'bench-churn' });
      nc.publish(revokedSubject, event);
    }
  });
  socket.on('data', (chunk) => reader.push(chunk));
}

while (started < N) {
  while (started < N && running < CONCURRENCY) {
    running++;
    runClient(FIRST + started++);
  }
  await new Promise((resolve) => (wake = resolve));
}
while (finished < N) await new Promise((resolve) => (wake = resolve));
await nc.close();
console.log(`RESULT ${JSON.stringify({ clients: N, done, failed: [...failures.values()].reduce((a, b) => a + b, 0), failures: Object.fromEntries(failures) })}`);
process.exit(0);
