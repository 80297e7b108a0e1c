// Small TCP helpers for starting local servers: find a free port, and wait until one accepts.
import { readFileSync } from 'node:fs';
import { createServer, connect as connectTcp } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The kernel's ephemeral range (net.ipv4.ip_local_port_range): the source ports of outgoing
 * connections come from it.
 */
function ephemeralRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return { low: low!, high: high! };
  } catch {
    // not Linux: the IANA dynamic range (RFC 6335), which other systems use
  }
  return { low: 49_152, high: 65_535 };
}

/** Handed out by this process (its server may not listen yet). */
const handedOut = new Set<number>();

/**
 * A free port on 127.0.0.1 for a server about to start, picked OUTSIDE the ephemeral range: a port
 * the OS hands out for `listen(0)` comes from that range, and between the check and the server's
 * own listen() any outgoing connection on the machine (tests and benchmarks open thousands) may
 * take it as its source port (EADDRINUSE). Another process could still take the port; that is rare.
 */
export async function getFreePort(): Promise<number> {
  const { low, high } = ephemeralRange();
  // The widest stretch outside the range, above 10000 (below are well-known services').
  const [from, to] = low - 10_000 >= 65_535 - high ? [10_000, low - 1] : [high + 1, 65_535];
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (handedOut.has(port)) continue;
    handedOut.add(port); // before the check: concurrent callers must not pick it meanwhile
    if (await isPortFree(port)) return port;
    handedOut.delete(port);
  }
  throw new Error(`no free port found in ${from}-${to}`);
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
