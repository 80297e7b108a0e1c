// The PROXY protocol (HAProxy, "The PROXY protocol", versions 1 and 2): an L4 load balancer that
// accepts a client's TCP connection and opens its own to KPC writes one header first, naming the
// client's address. Without it every client would appear to come from the load balancer.
//
//   v1 (text):   "PROXY TCP4 192.0.2.1 198.51.100.1 56324 1883\r\n"   at most 107 bytes (section 2.1)
//                "PROXY UNKNOWN …\r\n"                                  no address: keep the socket's
//   v2 (binary): 12-byte signature, version/command, family/transport, 16-bit length, addresses,
//                then optional TLVs (section 2.2). Command LOCAL (health checks by the balancer
//                itself) and family UNSPEC carry no client address: keep the socket's.
import { isIPv4, isIPv6 } from 'node:net';

export interface ProxiedSource {
  address: string;
  port: number;
}

export type ProxyHeaderParse =
  | { status: 'incomplete' }
  | { status: 'invalid'; reason: string }
  /** `source` is undefined when the header carries no client address (v1 UNKNOWN, v2 LOCAL or UNSPEC). */
  | { status: 'complete'; headerLength: number; source: ProxiedSource | undefined };

const V1_PREFIX = Buffer.from('PROXY ');
const V1_MAX_LENGTH = 107; // section 2.1: the longest possible line, CRLF included
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED_LENGTH = 16;
const V2_COMMAND_LOCAL = 0x0;
const V2_COMMAND_PROXY = 0x1;
const V2_FAMILY_UNSPEC = 0x0;
const V2_FAMILY_INET = 0x1;
const V2_FAMILY_INET6 = 0x2;
const V2_FAMILY_UNIX = 0x3;
const V2_TRANSPORT_STREAM = 0x1;

/** Parses the header at the start of `bytes` (everything received so far). Pure: no I/O. */
export function parseProxyHeader(bytes: Buffer): ProxyHeaderParse {
  if (startsWithPrefixOf(bytes, V2_SIGNATURE)) return bytes.length < V2_SIGNATURE.length ? { status: 'incomplete' } : parseV2(bytes);
  if (startsWithPrefixOf(bytes, V1_PREFIX)) return bytes.length < V1_PREFIX.length ? { status: 'incomplete' } : parseV1(bytes);
  return { status: 'invalid', reason: 'no PROXY protocol signature' };
}

/** True when `bytes` and `prefix` agree on their common length (a partial prefix may still match). */
function startsWithPrefixOf(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  return bytes.subarray(0, n).equals(prefix.subarray(0, n));
}

function parseV1(bytes: Buffer): ProxyHeaderParse {
  const end = bytes.subarray(0, V1_MAX_LENGTH).indexOf('\r\n');
  if (end === -1) return bytes.length >= V1_MAX_LENGTH ? { status: 'invalid', reason: 'v1 header longer than 107 bytes' } : { status: 'incomplete' };
  const headerLength = end + 2;
  const fields = bytes.subarray(V1_PREFIX.length, end).toString('latin1').split(' ');
  const [family, sourceAddress, destinationAddress, sourcePort, destinationPort] = fields;
  if (family === 'UNKNOWN') return { status: 'complete', headerLength, source: undefined };
  if (family !== 'TCP4' && family !== 'TCP6') return { status: 'invalid', reason: `v1 protocol '${family}' is neither TCP4, TCP6 nor UNKNOWN` };
  if (fields.length !== 5) return { status: 'invalid', reason: 'v1 header does not have 5 fields' };
  const isAddress = family === 'TCP4' ? isIPv4 : isIPv6;
  if (!isAddress(sourceAddress!) || !isAddress(destinationAddress!)) return { status: 'invalid', reason: `v1 addresses are not ${family} addresses` };
  const port = v1Port(sourcePort!);
  if (port === undefined || v1Port(destinationPort!) === undefined) return { status: 'invalid', reason: 'v1 ports are not 0-65535' };
  return { status: 'complete', headerLength, source: { address: sourceAddress!, port } };
}

function v1Port(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function parseV2(bytes: Buffer): ProxyHeaderParse {
  if (bytes.length < V2_FIXED_LENGTH) return { status: 'incomplete' };
  const version = bytes[12]! >> 4;
  const command = bytes[12]! & 0x0f;
  const family = bytes[13]! >> 4;
  const transport = bytes[13]! & 0x0f;
  const headerLength = V2_FIXED_LENGTH + bytes.readUInt16BE(14);
  if (version !== 2) return { status: 'invalid', reason: `v2 version ${version} is not 2` };
  if (command !== V2_COMMAND_LOCAL && command !== V2_COMMAND_PROXY) return { status: 'invalid', reason: `v2 command ${command} is neither LOCAL nor PROXY` };
  if (bytes.length < headerLength) return { status: 'incomplete' };
  // LOCAL: the balancer's own connection; UNSPEC/UNIX/non-stream: nothing usable as a client address.
  if (command === V2_COMMAND_LOCAL || transport !== V2_TRANSPORT_STREAM || family === V2_FAMILY_UNSPEC || family === V2_FAMILY_UNIX) {
    return family > V2_FAMILY_UNIX ? { status: 'invalid', reason: `v2 address family ${family} is unknown` } : { status: 'complete', headerLength, source: undefined };
  }
  const addresses = bytes.subarray(V2_FIXED_LENGTH, headerLength);
  if (family === V2_FAMILY_INET) {
    if (addresses.length < 12) return { status: 'invalid', reason: 'v2 IPv4 address block shorter than 12 bytes' };
    return { status: 'complete', headerLength, source: { address: [...addresses.subarray(0, 4)].join('.'), port: addresses.readUInt16BE(8) } };
  }
  if (family === V2_FAMILY_INET6) {
    if (addresses.length < 36) return { status: 'invalid', reason: 'v2 IPv6 address block shorter than 36 bytes' };
    return { status: 'complete', headerLength, source: { address: ipv6Text(addresses.subarray(0, 16)), port: addresses.readUInt16BE(32) } };
  }
  return { status: 'invalid', reason: `v2 address family ${family} is unknown` };
}

/** The eight 16-bit groups in hex, zeros compressed once (RFC 5952 §4.2), IPv4-mapped kept readable. */
function ipv6Text(bytes: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${[...bytes.subarray(12)].join('.')}`;
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length && j - i > 1) best = { start: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start === -1) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}
