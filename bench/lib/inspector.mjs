// A full garbage collection in another node process, through its inspector (started with
// --inspect=127.0.0.1:<port>): what a heap holds right after a GC is what it retains, not the
// garbage the last scavenges left. Connect BEFORE the process runs out of file descriptors: the
// WebSocket is opened once and kept.
import WebSocket from 'ws';
import { withTimeout } from './timeout.mjs';

export async function openInspector(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
  await withTimeout(new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject)), 5_000, 'connecting to the inspector');
  let nextId = 1;
  const pending = new Map();
  let snapshotChunks = null;
  socket.on('message', (data) => {
    const message = JSON.parse(data.toString());
    if (message.method === 'HeapProfiler.addHeapSnapshotChunk') snapshotChunks?.push(message.params.chunk);
    pending.get(message.id)?.(message);
    pending.delete(message.id);
  });
  const call = (method, params = {}) => {
    const id = nextId++;
    const answer = new Promise((resolve) => pending.set(id, resolve));
    socket.send(JSON.stringify({ id, method, params }));
    return withTimeout(answer, 60_000, `inspector ${method}`);
  };
  return {
    /** Full, compacting GC (twice: the first can leave work for finalizers). */
    async collectGarbage() {
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
    },
    /** V8 heap bytes in use (needs no file descriptor, unlike process.memoryUsage()). */
    async heapUsed() {
      return (await call('Runtime.getHeapUsage')).result.usedSize;
    },
    /** A heap snapshot (after a full GC), summarised: self size and count per constructor name. */
    async heapByConstructor() {
      return summarizeSnapshot(JSON.parse(await this.heapSnapshot()));
    },
    /** A heap snapshot as V8 writes it (JSON text, loadable in Chrome DevTools). */
    async heapSnapshot() {
      snapshotChunks = [];
      await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      const text = snapshotChunks.join('');
      snapshotChunks = null;
      return text;
    },
    close: () => socket.close(),
  };
}

/** Self size and count per constructor (V8 node name; strings, code, arrays and closures by type). */
function summarizeSnapshot({ snapshot: { meta }, nodes, strings }) {
  const fields = meta.node_fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => meta.node_fields.indexOf(f));
  const types = meta.node_types[0];
  const byName = new Map();
  for (let i = 0; i < nodes.length; i += fields) {
    const type = types[nodes[i + typeAt]];
    const key = type === 'object' || type === 'native' ? strings[nodes[i + nameAt]] : `(${type})`;
    const entry = byName.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += nodes[i + sizeAt];
    byName.set(key, entry);
  }
  return byName;
}
