// Source addresses for the load generators' sockets: one address has only the ephemeral port range
// (~28k ports) to connect from, so large client counts bind to several 127.x.y.z addresses (all of
// 127.0.0.0/8 is the loopback interface on Linux). Each bench run takes fresh ones: ports of an
// address recently used can sit in TIME_WAIT, which makes bind() slow (see workers/connections.mjs).
const base = 16 + Math.floor(Math.random() * 230); // 127.<base>.x.y for this run
let next = 1;

/** A loopback address no earlier client of this run used (never 127.0.0.1, where the servers listen). */
export function freshSourceAddress() {
  const n = next++;
  return `127.${base}.${(n >> 8) & 0xff}.${(n & 0xff) || 1}`;
}

