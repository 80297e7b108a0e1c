// The HTTP server of 1/KP over HTTP: the hono app on @hono/node-server, with Node's own limits for
// slow clients (headers and body must arrive within `connect-timeout`) and its connections counted
// against `max-connections` together with the MQTT sessions.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:net';
import type { Socket } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { HttpTransportConfig } from '../../config/types.js';
import { ServerListener } from '../../mqtt/listeners.js';
import { createKpHttpApp, type KpHttpDeps } from './kp-http-app.js';

/** The shared connection count, as this listener sees it (the registry keeps it). */
export interface ConnectionCount {
  /** False when the limit is reached: the connection is not counted and its requests get 503. */
  opened(): boolean;
  closed(): void;
}

/** How often Node checks the header and request deadlines (its default, 30 s, would let a slow client stay that long). */
const DEADLINE_CHECK_MS = 250;

export class KpHttpListener extends ServerListener {
  static create(config: HttpTransportConfig, connectTimeoutMs: number, count: ConnectionCount, deps: Omit<KpHttpDeps, 'config' | 'admitted'>): KpHttpListener {
    const refused = new WeakSet<Socket>();
    const app = createKpHttpApp({ ...deps, config, admitted: (incoming: IncomingMessage) => !refused.has(incoming.socket) });
    const serverOptions: ServerOptions & { cert?: Buffer; key?: Buffer } = {
      headersTimeout: connectTimeoutMs,
      // The whole request (headers and body) in that time; the wait for the extension's answer is not part of it.
      requestTimeout: connectTimeoutMs,
      connectionsCheckingInterval: Math.min(DEADLINE_CHECK_MS, connectTimeoutMs),
      ...(config.tls.enabled ? { cert: readFileSync(config.tls.certFile!), key: readFileSync(config.tls.keyFile!) } : {}),
    };
    const server = createAdaptorServer({
      fetch: app.fetch,
      serverOptions,
      // The app reads (or refuses to read) bodies itself; nothing should drain an oversized one.
      autoCleanupIncoming: false,
      ...(config.tls.enabled ? { createServer: createHttpsServer as typeof createHttpServer } : {}),
    }) as Server;
    server.on(config.tls.enabled ? 'secureConnection' : 'connection', (socket: Socket) => {
      if (!count.opened()) refused.add(socket);
      else socket.once('close', () => count.closed());
    });
    return new KpHttpListener(config.tls.enabled ? 'kp-https' : 'kp-http', server, { host: config.host, port: config.port });
  }

  override close(): Promise<void> {
    const closing = super.close();
    // Keep-alive connections waiting for their next request would hold the server open.
    (this.server as unknown as { closeIdleConnections(): void }).closeIdleConnections();
    return closing;
  }
}
