// A TCP relay in its own process that reports how the client side's bytes arrive: one JSON line on
// stdout per chunk read from a client that contains `marker`, with how many times it occurs. It runs
// in a separate process so that the chunks it reads are the client's socket writes as the kernel
// delivered them, not whatever a shared event loop happened to read in one go.
//
//   node write-counting-relay.mjs <target port> <marker>   → first line {"port": N}, then {"occurrences": k} per chunk
import { connect, createServer } from 'node:net';

const [targetPort, marker] = [Number(process.argv[2]), process.argv[3]];
const server = createServer((client) => {
  const upstream = connect({ host: '127.0.0.1', port: targetPort });
  client.on('data', (chunk) => {
    const occurrences = chunk.toString('latin1').split(marker).length - 1;
    if (occurrences > 0) process.stdout.write(JSON.stringify({ occurrences }) + '\n');
    upstream.write(chunk);
  });
  upstream.pipe(client);
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n'));
// The test process's end is ours: stdin closes with it.
process.stdin.on('end', () => process.exit(0)).resume();
