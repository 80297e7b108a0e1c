// Test servers listen on ports picked by getFreePort. A port from the kernel's ephemeral range can be
// taken as the source port of any outgoing connection between the pick and the server's listen()
// (a KPC under test then exits 2 with EADDRINUSE): the picker stays outside that range.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getFreePort, isPortFree } from '../../dev/ports.js';

const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);

describe('getFreePort', () => {
  it('hands out free ports outside the ephemeral range, none twice', async () => {
    const ports = await Promise.all(Array.from({ length: 50 }, () => getFreePort()));
    for (const port of ports) expect(port < low! || port > high!, `port ${port} is inside ${low}-${high}`).toBe(true);
    expect(new Set(ports).size).toBe(ports.length);
    expect(await isPortFree(ports[0]!)).toBe(true);
  });
});
