import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import { ListenError } from '../listen-error.js';

/** Serves the management app; resolves once it listens, rejects with a ListenError if it cannot. */
export function startManagementServer(app: Hono, port: number, hostname: string): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port, hostname }, () => resolve(server));
    server.once('error', (error: Error) => reject(new ListenError('management', `${hostname}:${port}`, error)));
  });
}
