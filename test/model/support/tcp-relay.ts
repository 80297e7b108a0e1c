// A TCP relay between one KPC process and nats-server, for driving the registry chart from outside:
//
//   closed  new connections are dropped at once: KPC keeps retrying its first NATS connect, so it
//           stays `starting` for as long as the test likes;
//   open    bytes flow both ways (`nats.connected` comes as soon as KPC retries);
//   paused  connections stay up but nothing flows, losslessly (the sockets stop being read, TCP
//           holds the bytes): a NATS drain cannot finish until `open()` resumes them;
//   cut     (`close()`) every relayed connection is destroyed and new ones are dropped: NATS is down.
import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';

export type RelayState = 'closed' | 'open' | 'paused';

export class TcpRelay {
  private readonly sockets = new Set<Socket>();
  private current: RelayState = 'closed';

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on a free port of 127.0.0.1, relaying to `target`; starts `closed`. */
  static async start(target: { host?: string; port: number }): Promise<TcpRelay> {
    let relay!: TcpRelay;
    const server = createServer((downstream) => relay.accept(downstream, target.host ?? '127.0.0.1', target.port));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('tcp relay: no port assigned');
    relay = new TcpRelay(server, address.port);
    return relay;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get state(): RelayState {
    return this.current;
  }

  open(): void {
    this.current = 'open';
    for (const socket of this.sockets) socket.resume();
  }

  /** NATS goes down: relayed connections are cut, new ones dropped until `open()`. */
  close(): void {
    this.current = 'closed';
    for (const socket of this.sockets) socket.destroy();
  }

  pause(): void {
    this.current = 'paused';
    for (const socket of this.sockets) socket.pause();
  }

  stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    socket.setNoDelay(true);
  }

  private accept(downstream: Socket, host: string, port: number): void {
    if (this.current === 'closed') {
      downstream.on('error', () => {});
      downstream.destroy();
      return;
    }
    this.track(downstream);
    const upstream = connectTcp({ host, port });
    this.track(upstream);
    downstream.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => downstream.write(chunk));
    if (this.current === 'paused') {
      downstream.pause();
      upstream.pause();
    }
    downstream.once('close', () => upstream.destroy());
    upstream.once('close', () => downstream.destroy());
  }
}
