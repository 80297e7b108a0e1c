// Counts the messages NATS delivers on one subject, in its own process: at QoS 0 max rates that is
// hundreds of thousands a second, more than the orchestrator could read beside its other work.
// stdin commands, one a line: `COUNT <tag>` → prints `COUNT <tag> <n>`; `RESET` → n = 0.
// Usage: node bench/workers/counter.mjs --nats URL --subject S   (prints `READY`)
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { exitOnSignal } from '../lib/announce.mjs';

const { values: opts } = parseArgs({ options: { nats: { type: 'string' }, subject: { type: 'string' } } });
const nc = await connect({ servers: opts.nats, name: 'bench counter' });
let received = 0;
nc.subscribe(opts.subject, { callback: () => received++ });
await nc.flush();
createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, tag] = line.trim().split(' ');
  if (command === 'COUNT') console.log(`COUNT ${tag} ${received}`);
  else if (command === 'RESET') received = 0;
});
nc.closed().then((error) => {
  if (error) console.error(`counter: NATS connection closed: ${error.message}`);
});
console.log('READY');
exitOnSignal(() => nc.close());
