// How the bench's own servers (bridge, acker) tell the orchestrator they are ready: they listen on
// the port asked for (0 = any free one, so there is no race for ports) and print `READY <port>`.
import { createServer } from 'node:net';

/** Starts a TCP server for MQTT clients; `onSocket` gets each socket with Nagle switched off. */
export function listenAndAnnounce(port, onSocket) {
  const server = createServer((socket) => {
    socket.setNoDelay(true); // QoS 1 round trips would otherwise wait for delayed ACKs (~40 ms)
    onSocket(socket);
  });
  server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => console.log(`READY ${server.address().port}`));
  return server;
}

/** Exits on SIGTERM/SIGINT after `close` (bounded, so a stuck close cannot hang the orchestrator). */
export function exitOnSignal(close) {
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, () => {
      setTimeout(() => process.exit(0), 2_000).unref();
      Promise.resolve(close()).finally(() => process.exit(0));
    });
  }
}
