// A TCP relay in front of a server, with a gate the test opens and closes: while the gate is
// closed, new connections are accepted and dropped at once (the client sees a failed connect and
// retries); connections already through keep working until either side closes. Used to decide
// WHEN a process may reconnect to a restarted nats-server.
//
// `blackHole()` turns the connections relayed so far into a silent partition: from then on
// whatever either side writes is discarded (the client's side kept for inspection) instead of
// forwarded, the way bytes in flight are lost when a server dies or a network drops.
// `hold()` delays instead: what the client side writes is kept until `release()` forwards it (a
// server slow to answer); if the client closes first, the held bytes are lost with it.
import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';

export interface TcpGate {
  port: number;
  /** `nats://127.0.0.1:{port}`: give this to the process that must go through the gate. */
  url: string;
  readonly isOpen: boolean;
  /** What the client side wrote into the black hole (latin1; the first MiB). */
  readonly discardedFromClient: string;
  open(): void;
  /** New connections are dropped from now on; existing ones are left alone. */
  close(): void;
  /** Existing connections stay open but forward nothing any more, in either direction. */
  blackHole(): void;
  /** Existing connections keep what their client writes instead of forwarding it... */
  hold(): void;
  /** ...until this forwards it all and lets the traffic flow again. */
  release(): void;
  /** Stops listening and destroys every relayed connection. */
  stop(): Promise<void>;
}

interface Relay {
  blackHoled: boolean;
  /** Client bytes held back; null when not holding. */
  held: Buffer[] | null;
  upstream: Socket;
}

export async function startTcpGate(target: { host?: string; port: number }): Promise<TcpGate> {
  const host = target.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const relays = new Set<Relay>();
  let open = true;
  let discardedFromClient = '';
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // a reset on either side just ends the relay
  };

  const server: Server = createServer((downstream) => {
    track(downstream);
    if (!open) {
      downstream.destroy();
      return;
    }
    downstream.setNoDelay(true);
    const upstream = connectTcp({ host, port: target.port });
    track(upstream);
    upstream.setNoDelay(true);
    const relay: Relay = { blackHoled: false, held: null, upstream };
    relays.add(relay);
    downstream.on('data', (chunk: Buffer) => {
      if (relay.blackHoled) discardedFromClient = (discardedFromClient + chunk.toString('latin1')).slice(0, 1024 ** 2);
      else if (relay.held !== null) relay.held.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!relay.blackHoled) downstream.write(chunk);
    });
    // One side gone means the relayed connection is gone: the client must see it as a disconnect.
    downstream.once('close', () => {
      relays.delete(relay);
      upstream.destroy();
    });
    upstream.once('close', () => downstream.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('tcp gate: no port assigned');
  const port = address.port;

  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    get isOpen() {
      return open;
    },
    get discardedFromClient() {
      return discardedFromClient;
    },
    open: () => {
      open = true;
    },
    close: () => {
      open = false;
    },
    blackHole: () => {
      for (const relay of relays) relay.blackHoled = true;
    },
    hold: () => {
      for (const relay of relays) relay.held ??= [];
    },
    release: () => {
      for (const relay of relays) {
        const held = relay.held ?? [];
        relay.held = null;
        for (const chunk of held) relay.upstream.write(chunk);
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
