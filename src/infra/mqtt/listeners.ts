// The three MQTT transports, all feeding one protocol engine: plain TCP, TLS (with optional
// client certificates) and WebSocket. Each listens through a front door (rate limit, PROXY
// protocol; front-door.ts) that hands admitted sockets on. Each client stream passes the
// packet-size guard and gets TCP_NODELAY (without it QoS 1 round trips sit at ~40 ms: Nagle +
// delayed ACK). The TLS listener re-reads its certificate files when they change.
import { createServer as createHttpServer } from 'node:http';
import type { Server, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { MqttConfig, TlsListenerConfig } from '../config/types.js';
import { ListenError } from '../listen-error.js';
import { CertificateReloader, loadTlsFiles, type LoadedTlsFiles, type TlsFiles } from './certificate-reloader.js';
import { ConnectionRateLimit } from './connection-rate-limit.js';
import { clientAddress, createFrontDoor, type FrontDoorEvents, type HandOff } from './front-door.js';
import type { MqttBroker } from './mqtt-broker.js';
import { PacketSizeGuard } from './packet-size-guard.js';

/** What the listeners report; the composition root logs and counts it. */
export interface ListenerEvents extends FrontDoorEvents {
  tlsLoaded(listener: string, loaded: LoadedTlsFiles, reloaded: boolean): void;
  tlsReloadFailed(listener: string, error: Error): void;
  tlsWatchFailed(listener: string, error: Error): void;
}

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
    private readonly onClose: () => void = () => {},
  ) {}

  get listening(): boolean {
    return this.server.listening;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', (error) => reject(new ListenError(this.name, `${this.address.host}:${this.address.port}`, error)));
      this.server.listen({ host: this.address.host, port: this.address.port, backlog: LISTEN_BACKLOG }, () => resolve());
    });
  }

  close(): Promise<void> {
    this.onClose();
    return new Promise((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
  }
}

export function createListeners(mqtt: MqttConfig, broker: MqttBroker, events: ListenerEvents): Listener[] {
  const listeners: Listener[] = [];
  const guarded = (socket: Socket, stream: Duplex = socket) => {
    socket.setNoDelay(true);
    return new PacketSizeGuard(stream, mqtt.maxPacketBytes, clientAddress(socket));
  };
  const at = (port: number) => ({ host: mqtt.host, port });
  const frontDoor = (listener: string, proxyProtocol: boolean, handOff: HandOff) =>
    createFrontDoor(
      {
        listener,
        rateLimit: mqtt.maxConnectionRate > 0 ? new ConnectionRateLimit(mqtt.maxConnectionRate) : undefined,
        proxyProtocol,
        headerTimeoutMs: mqtt.connectTimeoutMs,
        events,
      },
      handOff,
    );

  if (mqtt.tcp.enabled) {
    const server = frontDoor('mqtt-tcp', mqtt.tcp.proxyProtocol, (socket, bytesAfterHeader) => {
      if (bytesAfterHeader.length > 0) socket.unshift(bytesAfterHeader);
      broker.handle(guarded(socket), 'tcp');
    });
    listeners.push(new ServerListener('mqtt-tcp', server, at(mqtt.tcp.port)));
  }
  if (mqtt.tls.enabled) {
    const name = 'mqtt-tls';
    const files = mqtt.tls as TlsFiles; // cert-file and key-file are required when enabled (load-config.ts)
    const loaded = loadTlsFiles(files);
    const tlsServer = createTlsServer({ ...tlsOptions(mqtt.tls, loaded), handshakeTimeout: mqtt.connectTimeoutMs }, (socket) =>
      broker.handle(guarded(socket), 'tls'),
    );
    // A failed handshake (bad certificate, garbage, timeout) concerns that socket only.
    tlsServer.on('tlsClientError', (_error, socket) => socket.destroy());
    const reloader = new CertificateReloader(
      files,
      loaded,
      (next) => tlsServer.setSecureContext(tlsOptions(mqtt.tls, next)),
      { reloaded: (next) => events.tlsLoaded(name, next, true), failed: (error) => events.tlsReloadFailed(name, error) },
      (error) => events.tlsWatchFailed(name, error),
    );
    events.tlsLoaded(name, loaded, false);
    reloader.start();
    // Node's TLS server picks up bytes already read from the socket (the ones after a PROXY header).
    const server = frontDoor(name, mqtt.tls.proxyProtocol, (socket, bytesAfterHeader) => {
      if (bytesAfterHeader.length > 0) socket.unshift(bytesAfterHeader);
      tlsServer.emit('connection', socket);
    });
    listeners.push(new ServerListener(name, server, at(mqtt.tls.port), () => reloader.stop()));
  }
  if (mqtt.ws.enabled) {
    const httpServer = createHttpServer((_request, response) => response.writeHead(426, { Upgrade: 'websocket' }).end());
    const wss = new WebSocketServer({ server: httpServer, path: mqtt.ws.path, handleProtocols: chooseMqttSubprotocol });
    wss.on('connection', (ws, request) => broker.handle(guarded(request.socket, createWebSocketStream(ws)), 'ws'));
    // Node's HTTP server reads the socket's handle directly and would never see bytes already read
    // into JavaScript: those after a PROXY header are given to its 'data' listener instead.
    const server = frontDoor('mqtt-ws', mqtt.ws.proxyProtocol, (socket, bytesAfterHeader) => {
      // The HTTP server never listens itself, so its own header timeouts never run: a stalled
      // upgrade is cut after connect-timeout, like a stalled TLS handshake (ws clears the socket
      // timeout once upgraded; aedes's connect-timeout takes over from there).
      socket.setTimeout(mqtt.connectTimeoutMs, () => socket.destroy());
      httpServer.emit('connection', socket);
      if (bytesAfterHeader.length > 0) socket.emit('data', bytesAfterHeader);
      socket.resume();
    });
    listeners.push(new ServerListener('mqtt-ws', server, at(mqtt.ws.port)));
  }
  return listeners;
}

function tlsOptions(tls: TlsListenerConfig, files: LoadedTlsFiles) {
  return {
    cert: files.cert,
    key: files.key,
    ca: files.ca,
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
