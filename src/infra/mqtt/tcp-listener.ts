// Plain MQTT over TCP (SPEC §2).
import { createServer, type Server, type Socket } from 'node:net';
import type { MqttBroker } from './mqtt-broker.js';

/** A burst of connects overflows the default backlog of 511 and stalls on SYN retransmits. */
const LISTEN_BACKLOG = 4096;

export interface Listener {
  readonly name: string;
  readonly listening: boolean;
  listen(): Promise<void>;
  close(): Promise<void>;
}

export class TcpListener implements Listener {
  readonly name = 'mqtt-tcp';
  private readonly server: Server;

  constructor(
    broker: MqttBroker,
    private readonly address: { host: string; port: number },
  ) {
    this.server = createServer((socket: Socket) => {
      socket.setNoDelay(true); // without it QoS 1 round trips sit at ~40 ms (Nagle + delayed ACK)
      broker.handle(socket, 'tcp');
    });
  }

  get listening(): boolean {
    return this.server.listening;
  }

  get port(): number | undefined {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', (error) => reject(new Error(`MQTT TCP listener cannot bind ${this.address.host}:${this.address.port}: ${error.message}`)));
      this.server.listen({ host: this.address.host, port: this.address.port, backlog: LISTEN_BACKLOG }, () => resolve());
    });
  }

  /** Stops accepting; existing connections are closed by their sessions. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}
