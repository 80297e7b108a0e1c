// The dev echo extension (dist-dev/dev/echo-extension.js) in its own process: answers every ClientData
// that has a request id with an ExtensionData carrying the same payload (status 200).
// Usage: node bench/workers/echo-extension.mjs --nats URL [--instance bench]   (prints `READY`)
import { parseArgs } from 'node:util';
import { exitOnSignal } from '../lib/announce.mjs';

const { EchoExtension } = await import('../../dist-dev/dev/echo-extension.js');
const { values: opts } = parseArgs({ options: { nats: { type: 'string' }, instance: { type: 'string', default: 'bench' } } });
if (!opts.nats) throw new Error('--nats URL is required');

const extension = new EchoExtension({ natsUrls: opts.nats, instanceName: opts.instance, logger: { info() {}, warn: console.error } });
await extension.start();
// It keeps every request it received (for tests): forget them, or a long run grows without bound.
setInterval(() => (extension.received.length = 0), 1_000).unref();
console.log('READY');
exitOnSignal(() => extension.stop());
