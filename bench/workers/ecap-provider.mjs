// The dev 16/ECAP provider (dist-dev/dev/ecap-provider.js) in its own process, so the CPU it spends
// validating thousands of credentials is not counted against KPC. Users bench-<i>/pw-<i>
// (credentialId cred-bench-<i>) and tokens token-<i> → endpoint-<i>, i = 0..users-1.
// Usage: node bench/workers/ecap-provider.mjs --nats URL --users N   (prints `READY`)
import { parseArgs } from 'node:util';
import { exitOnSignal } from '../lib/announce.mjs';

const { DevEcapProvider } = await import('../../dist-dev/dev/ecap-provider.js');
const { values: opts } = parseArgs({ options: { nats: { type: 'string' }, users: { type: 'string', default: '100' } } });
if (!opts.nats) throw new Error('--nats URL is required');

const credentials = { users: {}, tokens: {} };
for (let i = 0; i < Number(opts.users); i++) {
  credentials.users[`bench-${i}`] = { password: `pw-${i}` };
  credentials.tokens[`token-${i}`] = { endpointId: `endpoint-${i}` };
}
const provider = new DevEcapProvider({ natsUrls: opts.nats, credentials, logger: { info() {}, warn: console.error } });
await provider.start();
// It records every request for tests; a benchmark makes hundreds of thousands: forget them.
setInterval(() => {
  provider.requestLog.length = 0;
  provider.tokenRequestCounts.clear();
}, 1_000).unref();
console.log(`READY ${opts.users} users`);
exitOnSignal(() => provider.stop());
