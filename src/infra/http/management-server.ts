import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';

/** Serves the management app; resolves once it listens, rejects with a clear message if it cannot. */
export function startManagementServer(app: Hono, port: number, hostname: string): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port, hostname }, () => resolve(server));
    server.once('error', (error: Error) => reject(new Error(`management HTTP server cannot bind ${hostname}:${port}: ${error.message}`)));
  });
}
