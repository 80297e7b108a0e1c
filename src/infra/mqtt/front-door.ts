// What every MQTT listener does with a TCP connection before MQTT, TLS or HTTP sees a byte of it:
// the connection-rate limit (closed at once when over it), then, when the listener sits behind an
// L4 load balancer, the PROXY protocol header naming the real client. Only then is the socket
// handed to the transport (aedes directly, the TLS server, or the HTTP server for WebSocket).
import { createServer, type Server, type Socket } from 'node:net';
import type { ConnectionRateLimit } from './connection-rate-limit.js';
import { parseProxyHeader, type ProxiedSource } from './proxy-protocol.js';

export interface FrontDoorOptions {
  listener: string;
  rateLimit: ConnectionRateLimit | undefined;
  proxyProtocol: boolean;
  /** How long a connection may take to send its PROXY header (the listener's connect-timeout). */
  headerTimeoutMs: number;
  events: FrontDoorEvents;
}

export interface FrontDoorEvents {
  rateLimited(listener: string): void;
  proxyHeaderRejected(listener: string, reason: string, peerAddress: string | undefined): void;
}

/** Receives an admitted socket (paused) and the bytes read past the PROXY header, if any. */
export type HandOff = (socket: Socket, bytesAfterHeader: Buffer) => void;

const NOTHING: Buffer = Buffer.alloc(0);
/** The client each proxied socket really belongs to, as the PROXY header named it. */
const proxiedSources = new WeakMap<Socket, ProxiedSource>();

/**
 * The client's address: the one the PROXY header named, else the socket's peer. For a TLS socket
 * made by a TLS server from a front-door socket, that socket is the TLS socket's `_parent`.
 */
export function clientAddress(socket: Socket): string | undefined {
  const raw = (socket as Socket & { _parent?: Socket })._parent ?? socket;
  return proxiedSources.get(raw)?.address ?? socket.remoteAddress;
}

export function createFrontDoor(options: FrontDoorOptions, handOff: HandOff): Server {
  return createServer((socket) => {
    socket.on('error', () => {}); // a reset before the hand-off concerns this socket only
    if (options.rateLimit !== undefined && !options.rateLimit.admit()) {
      socket.destroy();
      options.events.rateLimited(options.listener);
      return;
    }
    if (!options.proxyProtocol) return handOff(socket, NOTHING);
    readProxyHeader(socket, options.headerTimeoutMs).then(
      ({ source, rest }) => {
        if (source !== undefined) proxiedSources.set(socket, source);
        handOff(socket, rest);
      },
      (reason: string) => {
        options.events.proxyHeaderRejected(options.listener, reason, socket.remoteAddress);
        socket.destroy();
      },
    );
  });
}

/** Reads until the header is complete; rejects with the reason (invalid, timeout, closed) otherwise. */
function readProxyHeader(socket: Socket, timeoutMs: number): Promise<{ source: ProxiedSource | undefined; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let received: Buffer = NOTHING;
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      socket.off('data', onData).off('close', onClose).off('error', onClose);
      socket.pause();
      settle();
    };
    const onData = (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const parsed = parseProxyHeader(received);
      if (parsed.status === 'invalid') finish(() => reject(`invalid PROXY protocol header: ${parsed.reason}`));
      else if (parsed.status === 'complete') finish(() => resolve({ source: parsed.source, rest: received.subarray(parsed.headerLength) }));
    };
    const onClose = () => finish(() => reject('connection closed before a complete PROXY protocol header'));
    const timer = setTimeout(() => finish(() => reject(`no complete PROXY protocol header within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData).once('close', onClose).once('error', onClose);
  });
}
