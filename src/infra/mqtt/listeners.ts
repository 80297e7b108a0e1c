// The three MQTT transports, all feeding one protocol engine: plain TCP, TLS (with
// optional client certificates) and WebSocket. Each client stream passes the packet-size guard and
// gets TCP_NODELAY (without it QoS 1 round trips sit at ~40 ms: Nagle + delayed ACK).
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { MqttConfig, TlsListenerConfig } from '../config/types.js';
import type { MqttBroker } from './mqtt-broker.js';
import { PacketSizeGuard } from './packet-size-guard.js';

/** A burst of connects overflows the default backlog of 511 and stalls on SYN retransmits. */
const LISTEN_BACKLOG = 4096;

export interface Listener {
  readonly name: string;
  readonly listening: boolean;
  listen(): Promise<void>;
  /** Stops accepting; existing connections are closed by their sessions. */
  close(): Promise<void>;
}

export class ServerListener implements Listener {
  constructor(
    readonly name: string,
    protected readonly server: Server,
    private readonly address: { host: string; port: number },
  ) {}

  get listening(): boolean {
    return this.server.listening;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', (error) =>
        reject(new Error(`${this.name} listener cannot listen on ${this.address.host}:${this.address.port}: ${error.message}`)),
      );
      this.server.listen({ host: this.address.host, port: this.address.port, backlog: LISTEN_BACKLOG }, () => resolve());
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
  }
}

export function createListeners(mqtt: MqttConfig, broker: MqttBroker): Listener[] {
  const listeners: Listener[] = [];
  const guarded = (socket: Socket, stream = socket as import('node:stream').Duplex) => {
    socket.setNoDelay(true);
    return new PacketSizeGuard(stream, mqtt.maxPacketBytes, socket.remoteAddress);
  };
  const at = (port: number) => ({ host: mqtt.host, port });

  if (mqtt.tcp.enabled) {
    const server = createTcpServer((socket) => broker.handle(guarded(socket), 'tcp'));
    listeners.push(new ServerListener('mqtt-tcp', server, at(mqtt.tcp.port)));
  }
  if (mqtt.tls.enabled) {
    const server = createTlsServer({ ...tlsOptions(mqtt.tls), handshakeTimeout: mqtt.connectTimeoutMs }, (socket) =>
      broker.handle(guarded(socket), 'tls'),
    );
    // A failed handshake (bad certificate, garbage, timeout) concerns that socket only.
    server.on('tlsClientError', (_error, socket) => socket.destroy());
    listeners.push(new ServerListener('mqtt-tls', server, at(mqtt.tls.port)));
  }
  if (mqtt.ws.enabled) {
    const server = createHttpServer((_request, response) => response.writeHead(426, { Upgrade: 'websocket' }).end());
    const wss = new WebSocketServer({ server, path: mqtt.ws.path, handleProtocols: chooseMqttSubprotocol });
    wss.on('connection', (ws, request) => broker.handle(guarded(request.socket, createWebSocketStream(ws)), 'ws'));
    listeners.push(new ServerListener('mqtt-ws', server, at(mqtt.ws.port)));
  }
  return listeners;
}

function tlsOptions(tls: TlsListenerConfig) {
  return {
    cert: readFileSync(tls.certFile!),
    key: readFileSync(tls.keyFile!),
    ca: tls.caFile === undefined ? undefined : readFileSync(tls.caFile),
    requestCert: tls.clientAuth !== 'none',
    // `required`: Node's TLS stack refuses a missing or failing certificate in the handshake.
    rejectUnauthorized: tls.clientAuth === 'required',
    minVersion: 'TLSv1.2' as const,
  };
}

/** mqtt.js and browsers offer `mqtt` (3.1.1) or `mqttv3.1`; a client offering nothing is let in. */
function chooseMqttSubprotocol(offered: Set<string>): string | false {
  if (offered.size === 0) return false;
  for (const protocol of ['mqtt', 'mqttv3.1']) if (offered.has(protocol)) return protocol;
  return false;
}

export type { TLSSocket };
