// Listening ports for the servers under test, picked OUTSIDE the kernel's ephemeral range
// (net.ipv4.ip_local_port_range, 32768-60999 here): the bench opens tens of thousands of outgoing
// connections, and a port taken from that range could be grabbed as a source port between the
// check and the server's listen() (EADDRINUSE). 127.0.0.1 only.
import { readFileSync } from 'node:fs';

const { isPortFree } = await import('../../dist-dev/dev/ports.js');

function ephemeralRange() {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return { low, high };
  } catch {
    return { low: 32_768, high: 60_999 };
  }
}

const taken = new Set(); // handed out by this process (a server may not listen yet)

export async function getFreePort() {
  const { low, high } = ephemeralRange();
  // The widest stretch outside the range, above 10000 (below are well-known services').
  const [from, to] = low - 10_000 >= 65_535 - high ? [10_000, low - 1] : [high + 1, 65_535];
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (taken.has(port)) continue;
    if (await isPortFree(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${from}-${to}`);
}
