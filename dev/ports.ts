// Small TCP helpers for starting local servers: find a free port, and wait until one accepts.
import { createServer, connect as connectTcp } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A port the OS just handed out on 127.0.0.1 (free now; another process could still take it). */
export function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port assigned'))));
    });
  });
}

/** True when nothing listens on `port` of `host` (checked by trying to listen there). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

function acceptsConnections(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Resolves once `host:port` accepts a TCP connection. Rejects after `timeoutMs`, or as soon as
 * `failure()` returns a reason (e.g. the server process already exited).
 */
export async function waitForPort(
  port: number,
  opts: { host?: string; timeoutMs?: number; intervalMs?: number; failure?: () => string | undefined } = {},
): Promise<void> {
  const { host = '127.0.0.1', timeoutMs = 10_000, intervalMs = 50, failure } = opts;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = failure?.();
    if (reason) throw new Error(reason);
    if (await acceptsConnections(port, host)) return;
    if (Date.now() >= deadline) throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}
