// The floor KPC's design adds cost to: aedes → NATS with no authentication, no routing, no actors
// and no Avro. Each QoS 1 PUBLISH is acknowledged once a NATS flush() issued after it has resolved,
// which is the same delivery guarantee KPC gives (and the same batching: one flush in flight confirms
// everything published before it).
// Usage: node bench/bare-bridge.mjs --nats nats://127.0.0.1:4222 [--port 0]   (prints `READY <port>`)
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import { connect } from 'nats';
import { exitOnSignal, listenAndAnnounce } from './lib/announce.mjs';

const SUBJECT = 'kaa.v1.service.bench.esp.ClientData';
const { values: opts } = parseArgs({ options: { nats: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (!opts.nats) throw new Error('--nats URL is required');

const nc = await connect({ servers: opts.nats, name: 'bench bare-bridge' });

let published = []; // callbacks of publishes not yet covered by a flush
let flushing = false;
function confirmSoon() {
  if (flushing || published.length === 0) return;
  const batch = published;
  published = [];
  flushing = true;
  nc.flush().then(
    () => {
      flushing = false;
      for (const done of batch) done(null);
      confirmSoon();
    },
    (error) => {
      console.error(`flush failed: ${error.message}`);
      process.exit(1); // a floor measurement with lost messages would be meaningless
    },
  );
}

const broker = await Aedes.createBroker({
  heartbeatInterval: 86_400_000, // as KPC: no $SYS chatter
  authorizePublish(_client, packet, done) {
    nc.publish(SUBJECT, packet.payload);
    published.push(done);
    confirmSoon();
  },
});
// As KPC does: no fan-out to subscriptions, retained store or wills; the PUBACK still follows.
broker.publish = (_packet, clientOrDone, done) => {
  const callback = typeof clientOrDone === 'function' ? clientOrDone : done;
  if (callback) callback();
};

const server = listenAndAnnounce(Number(opts.port), (socket) => broker.handle(socket));

exitOnSignal(async () => {
  server.close();
  await new Promise((resolve) => broker.close(resolve));
  await nc.drain();
});
