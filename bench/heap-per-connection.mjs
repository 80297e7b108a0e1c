// What each idle connection costs KPC's heap, by constructor: KPC (with its inspector) gets N
// authenticated clients, each holding one identified endpoint (one QoS 1 PUBLISH on its token),
// and a heap snapshot after a full GC is taken before and after; the difference per connection
// is listed by constructor name (V8's node names; strings, arrays, closures and code by type).
//
//   node bench/heap-per-connection.mjs [--clients 2000] [--kpc-main dist/main.js] [--top 30] [--save FILE]
//                                      [--kpc-env KEY=VALUE,…]  (settings to try, as in bench/run.mjs)
//   (--save: also writes the second snapshot, to open in Chrome DevTools' Memory tab)
//
// The same setup as the idle-scale scenario (bench/scenarios/idle-scale.mjs), in small: the
// snapshot of a large heap takes long and much memory.
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const { spawnNode, stopAllChildren, stopChild, waitForLine } = await import('./lib/children.mjs');
const { startKpc, startNatsServer, startWorker } = await import('./lib/servers.mjs');
const { startCounter } = await import('./lib/counter.mjs');
const { openInspector } = await import('./lib/inspector.mjs');
const { freshSourceAddress } = await import('./lib/addresses.mjs');

const { values: o } = parseArgs({
  options: { 'kpc-env': { type: 'string', default: '' }, save: { type: 'string' }, clients: { type: 'string', default: '2000' }, 'kpc-main': { type: 'string', default: 'dist/main.js' }, top: { type: 'string', default: '30' } },
});
const clients = Number(o.clients);
const WARM_UP_CLIENTS = 200;

try {
  const nats = await startNatsServer();
  await startWorker('ecap-provider', 'bench/workers/ecap-provider.mjs', ['--nats', nats.url, '--users', String(clients + WARM_UP_CLIENTS)]);
  await startCounter(nats.url);
  const env = Object.fromEntries(o['kpc-env'].split(',').filter(Boolean).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
  const kpc = await startKpc({ natsUrl: nats.url, replicaId: 'bench-heap', main: o['kpc-main'], inspect: true, maxInFlight: 5_000, env });
  const inspector = await openInspector(kpc.inspectPort);
  // One-time costs (lazily built caches such as mqtt-packet's 65 536 two-byte number buffers, code
  // compiled on first use) must not count per connection: a first batch of clients warms them up.
  const warmUp = spawnNode('warm-up', 'bench/workers/connections.mjs', [
    '--port', String(kpc.port), '--clients', String(WARM_UP_CLIENTS), '--first', String(clients), '--concurrency', '100', '--publish', '--mode', 'hold',
    '--local-address', freshSourceAddress(), '--timeout', '60',
  ]);
  await waitForLine(warmUp, /^CONNECTED (.*)$/, 90_000, 'connecting the warm-up clients');
  await sleep(2_000);
  await inspector.collectGarbage();
  const before = await inspector.heapByConstructor();
  const generator = spawnNode('idle-gen', 'bench/workers/connections.mjs', [
    '--port', String(kpc.port), '--clients', String(clients), '--concurrency', '100', '--publish', '--mode', 'hold',
    '--local-address', freshSourceAddress(), '--timeout', '120',
  ], { fileLimit: clients + 1_000 });
  const [, json] = await waitForLine(generator, /^CONNECTED (.*)$/, 180_000, 'connecting the idle clients');
  const { done } = JSON.parse(json);
  await sleep(3_000);
  await inspector.collectGarbage();
  const after = await inspector.heapByConstructor();
  if (o.save) writeFileSync(o.save, await inspector.heapSnapshot());
  const rows = [...after].map(([name, a]) => {
    const b = before.get(name) ?? { count: 0, bytes: 0 };
    return { name, count: (a.count - b.count) / done, bytes: (a.bytes - b.bytes) / done };
  }).sort((x, y) => y.bytes - x.bytes);
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  console.log(`${done} idle identified connections, ${o['kpc-main']}: ${(total / 1024).toFixed(2)} KiB of heap (snapshot self sizes) per connection\n`);
  console.log('| constructor / type | objects per connection | bytes per connection |\n|---|---:|---:|');
  for (const r of rows.slice(0, Number(o.top))) console.log(`| ${r.name.replaceAll('|', '\\|').slice(0, 60)} | ${r.count.toFixed(2)} | ${r.bytes.toFixed(0)} |`);
  inspector.close();
  await Promise.all([stopChild(generator, 5_000), stopChild(warmUp, 5_000)]);
  await kpc.stop();
} finally {
  await stopAllChildren();
}
