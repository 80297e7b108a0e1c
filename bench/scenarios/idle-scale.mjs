// Scenario 4, idle scale: for each count (default 20 000 and 50 000), a fresh KPC gets that many
// authenticated clients, each of which publishes one QoS 1 message to kp1/bench_v1/bench/token-<i>/data
// (so it also holds an identified endpoint session) and then stays idle (keepalive 0: no PINGREQ).
// KPC's VmRSS (/proc/<pid>/status) and V8 heap (/metrics kpc_nodejs_heap_size_used_bytes, read over
// one kept-alive connection: a KPC out of file descriptors cannot accept a new one) before and
// after, and the difference per connection. The clients are split over several generator processes
// of at most --idle-per-process clients, each binding its sockets to its own fresh 127.x.y.z source
// address (one address has ~28k ephemeral ports). Bounded: whatever has not connected by the
// timeout is reported as not reached, with the reasons the generators saw.
// --idle-workers N (> 1) runs KPC with kaa.kpc.workers: N, so that the count is not capped by one
// process's open-file limit: RSS is then summed over the primary and the workers, and the heap is
// the workers' summed /metrics gauge, without a forced GC (there is one inspector per process).
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnNode, stopChild, waitForLine } from '../lib/children.mjs';
import { freshSourceAddress } from '../lib/addresses.mjs';
import { MetricsReader } from '../lib/metrics.mjs';
import { openInspector } from '../lib/inspector.mjs';
import { fileLimitOf, hardFileLimit, openFiles, totalRssKb } from '../lib/proc.mjs';
import { check, fmt, table } from '../lib/report.mjs';

export const name = 'idle-scale';

const HEAP = 'kpc_nodejs_heap_size_used_bytes';
const SETTLE_MS = 5_000;

/**
 * The heap comes from the inspector (V8's own count): at the open-file limit KPC's /metrics still
 * answers, but process.memoryUsage() behind its heap gauge throws (EMFILE: it opens /proc/self/…),
 * so `${HEAP}` keeps its last value; it is recorded as `metricsHeapBytes` to compare.
 */
async function memory(kpc, metrics, inspector) {
  const metricsHeapBytes = await metrics.value(HEAP);
  return {
    rssKb: totalRssKb(kpc.pids), heapUsedBytes: inspector ? await inspector.heapUsed() : metricsHeapBytes, metricsHeapBytes,
    openConnections: await metrics.value('kpc_connections_open'), openFiles: kpc.pids.reduce((sum, pid) => sum + (openFiles(pid) ?? 0), 0),
  };
}

/** A full GC when KPC runs as one process (through its inspector); with workers there is none to force. */
const collectGarbage = (inspector) => inspector?.collectGarbage();

async function scale(ctx, count) {
  const perProcess = Number(ctx.opts['idle-per-process']);
  const processes = Math.ceil(count / perProcess);
  const timeoutSeconds = Math.round(Number(ctx.opts['idle-timeout']) + count / 500);
  const workers = Number(ctx.opts['idle-workers']);
  const kpc = await ctx.startKpc({ maxInFlight: 5_000, maxConnections: count + 1_000, fileLimit: count + 1_000, inspect: workers === 1, workers }, `idle-${count}${workers > 1 ? `-${workers}w` : ''}`);
  const metrics = await new MetricsReader(kpc.metricsUrl).start();
  const inspector = workers === 1 ? await openInspector(kpc.inspectPort) : null;
  const generators = [];
  try {
    await sleep(2_000);
    await collectGarbage(inspector);
    const before = await memory(kpc, metrics, inspector);
    const progress = new Map();
    const started = performance.now();
    for (let p = 0; p < processes; p++) {
      const first = p * perProcess;
      const clients = Math.min(perProcess, count - first);
      const generator = spawnNode(`idle-gen-${p}`, 'bench/workers/connections.mjs', [
        '--port', String(kpc.port), '--clients', String(clients), '--first', String(first), '--concurrency', ctx.opts['idle-concurrency'],
        '--publish', '--mode', 'hold', '--local-address', freshSourceAddress(), '--timeout', String(timeoutSeconds),
      ], { fileLimit: clients + 1_000 });
      generator.on('line', (line) => {
        if (line.startsWith('PROGRESS ')) progress.set(p, JSON.parse(line.slice(9)));
      });
      generators.push({ generator, clients, done: waitForLine(generator, /^CONNECTED (.*)$/, (timeoutSeconds + 30) * 1000, `idle generator ${p}`).then(([, json]) => JSON.parse(json)) });
    }
    const ticker = setInterval(() => {
      const done = [...progress.values()].reduce((sum, s) => sum + s.done, 0);
      const failed = [...progress.values()].reduce((sum, s) => sum + s.failed, 0);
      ctx.log(`    idle ${count}: ${done} connected + published, ${failed} failed, ${Math.round((performance.now() - started) / 1000)} s; KPC RSS ${fmt(totalRssKb(kpc.pids) / 1024)} MiB`);
    }, 5_000);
    const results = await Promise.allSettled(generators.map((g) => g.done));
    clearInterval(ticker);
    const spanSeconds = (performance.now() - started) / 1000;
    const summaries = results.map((r, p) => (r.status === 'fulfilled' ? r.value : { ...(progress.get(p) ?? {}), error: r.reason.message }));
    const reached = summaries.reduce((sum, s) => sum + (s.done ?? 0), 0);
    const reasons = {};
    for (const s of summaries) for (const [why, n] of Object.entries(s.reasons ?? {})) reasons[why] = (reasons[why] ?? 0) + n;
    await sleep(SETTLE_MS);
    // Clients the server closed while idle (after their PUBACK).
    const droppedWhileIdle = [...progress.values()].reduce((sum, s) => sum + (s.closedAfterDone ?? 0), 0);
    const afterNoGc = await memory(kpc, metrics, inspector);
    const gcStarted = performance.now();
    await collectGarbage(inspector);
    const gcMs = performance.now() - gcStarted;
    const after = await memory(kpc, metrics, inspector);
    const held = after.openConnections ?? reached - droppedWhileIdle;
    const perConnection = (a, b) => (a === null || b === null || held <= 0 ? null : (a - b) / held);
    return {
      count, workers, forcedGc: inspector !== null, reached, held, droppedWhileIdle, processes, spanSeconds,
      connectsPerSec: reached / spanSeconds,
      reasons,
      kpcFileLimit: fileLimitOf(kpc.pid),
      kpcAlive: kpc.child.exitCode === null && kpc.child.signalCode === null,
      metricsError: metrics.lastError,
      before, afterNoGc, after, gcMs,
      rssKbPerConnectionNoGc: perConnection(afterNoGc.rssKb, before.rssKb),
      heapBytesPerConnectionNoGc: perConnection(afterNoGc.heapUsedBytes, before.heapUsedBytes),
      rssKbPerConnection: perConnection(after.rssKb, before.rssKb),
      heapBytesPerConnection: perConnection(after.heapUsedBytes, before.heapUsedBytes),
    };
  } finally {
    metrics.stop();
    inspector?.close();
    await Promise.all(generators.map((g) => stopChild(g.generator, 5_000)));
    await kpc.stop();
  }
}

export async function run(ctx) {
  const counts = ctx.opts['idle-counts'].split(',').map(Number);
  const rows = [];
  for (const count of counts) {
    const row = await scale(ctx, count);
    rows.push(row);
    ctx.log(`  idle ${count}: held ${row.held} (${row.reached} reached) in ${fmt(row.spanSeconds, 1)} s; RSS ${fmt(row.before.rssKb / 1024)} → ${fmt(row.after.rssKb / 1024)} MiB = ${fmt(row.rssKbPerConnection, 1)} KiB/connection; ` +
      `heap ${fmt(row.before.heapUsedBytes / 2 ** 20)} → ${fmt(row.after.heapUsedBytes / 2 ** 20)} MiB = ${fmt(row.heapBytesPerConnection / 1024, 1)} KiB/connection` +
      (Object.keys(row.reasons).length ? `; not reached: ${JSON.stringify(row.reasons)}` : ''));
  }
  const limit = hardFileLimit();
  return {
    rows,
    checks: rows.map((r) => check('idle-scale', `${r.count} clients held at ≤ 12 KiB RSS and ≤ 8 KiB heap per connection`,
      `${r.held} held; ${fmt(r.rssKbPerConnection, 1)} KiB RSS, ${fmt(r.heapBytesPerConnection / 1024, 1)} KiB heap per connection${r.forcedGc ? '' : ' (no forced GC)'}`,
      r.held >= r.count && r.rssKbPerConnection !== null && r.rssKbPerConnection <= 12 && r.heapBytesPerConnection / 1024 <= 8,
      r.held < r.count ? `count not reached: ${JSON.stringify(r.reasons)}; KPC's open-file limit ${r.kpcFileLimit}` : '')),
    markdown: markdown(ctx, rows, limit),
  };
}

function markdown(ctx, rows, hardLimit) {
  const cols = [{ title: 'clients' }, { title: 'KPC workers' }, { title: 'held' }, { title: 'generators' }, { title: 'connect+publish s' }, { title: 'connects/s' }, { title: 'RSS before MiB' }, { title: 'RSS after MiB' },
    { title: 'RSS KiB/conn' }, { title: 'heap before MiB' }, { title: 'heap after MiB' }, { title: 'heap KiB/conn' }, { title: 'without the final GC: RSS / heap KiB/conn' }, { title: 'KPC open files / limit' }, { title: 'not reached: why', align: 'l' }];
  const mib = (kb) => fmt(kb / 1024, 1);
  const blocked = rows.some((r) => r.held < r.count);
  return `## 4. Idle scale

Each client connects (ECAP username/password), publishes one QoS 1 message to its endpoint's \`kp1/bench_v1/bench/token-<i>/data\` (so KPC also holds an identified endpoint session, ECAP token included), waits for the PUBACK, then stays idle (keepalive 0). Fresh KPC per count; clients split over generator processes of ≤ ${ctx.opts['idle-per-process']} clients, ${ctx.opts['idle-concurrency']} handshakes in flight each, each bound to its own 127.x.y.z address. RSS = KPC's VmRSS; heap = V8 heap used (the inspector's \`Runtime.getHeapUsage\`: at the open-file limit \`${HEAP}\` from /metrics goes stale, because \`process.memoryUsage()\` behind it throws EMFILE); both read after a full GC (forced through KPC's inspector, \`--inspect=127.0.0.1:<port>\`, so the heap is what KPC retains, not garbage), 2 s after start (before) and ${SETTLE_MS / 1000} s after the last client was done (after); the readings just before that last GC are shown too. Per connection = difference / connections KPC reports open (\`kpc_connections_open\`). KiB = 1024 bytes; the target is 12 KB = 11.7 KiB.

${table(cols, rows.map((r) => [r.count, r.workers > 1 ? `${r.workers} (no forced GC)` : '1', r.held, r.processes, fmt(r.spanSeconds, 1), fmt(r.connectsPerSec), mib(r.before.rssKb), mib(r.after.rssKb), fmt(r.rssKbPerConnection, 2),
    fmt(r.before.heapUsedBytes / 2 ** 20, 1), fmt(r.after.heapUsedBytes / 2 ** 20, 1), fmt(r.heapBytesPerConnection / 1024, 2),
    `${fmt(r.rssKbPerConnectionNoGc, 1)} / ${fmt(r.heapBytesPerConnectionNoGc / 1024, 1)}`, `${r.after.openFiles ?? '–'} / ${r.kpcFileLimit ?? '–'}`,
    Object.keys(r.reasons).length ? JSON.stringify(r.reasons) : r.droppedWhileIdle ? `${r.droppedWhileIdle} dropped while idle` : '–']))}

/metrics \`${HEAP}\` at the same moments (MiB, before / before the last GC / after it): ${rows.map((r) => `${r.count}: ${[r.before, r.afterNoGc, r.after].map((m) => fmt(m.metricsHeapBytes / 2 ** 20, 1)).join(' / ')}`).join('; ')}${rows.some((r) => r.after.metricsHeapBytes === r.afterNoGc.metricsHeapBytes) ? ' (unchanged across a full GC = stale: KPC at its open-file limit)' : ''}.
${blocked ? `
**Not reached.** Every process here has a hard open-file limit of ${hardLimit} (\`ulimit -Hn\`), and raising it needs CAP_SYS_RESOURCE, which this sandbox does not grant (\`ulimit -n 65536\` → "Operation not permitted"), so KPC cannot hold more than about ${hardLimit} sockets, whatever its own \`max-connections\`. The per-connection figures above are for the connections it did hold; on a machine with a higher limit the same command measures the full count.${rows.some((r) => r.metricsError) ? ` /metrics errors: ${[...new Set(rows.map((r) => r.metricsError).filter(Boolean))].join('; ')}.` : ''}
` : ''}`;
}
