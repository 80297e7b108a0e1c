// The PROXY protocol header parser (HAProxy "The PROXY protocol" v1 section 2.1, v2 section 2.2),
// fed whole headers, headers split at every byte, and broken ones.
import { describe, expect, it } from 'vitest';
import { parseProxyHeader } from '../../src/infra/mqtt/proxy-protocol.js';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: version 2 + command, family << 4 | transport, then the address block. */
function v2(command: number, familyTransport: number, block: Buffer): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = 0x20 | command;
  fixed[1] = familyTransport;
  fixed.writeUInt16BE(block.length, 2);
  return Buffer.concat([SIGNATURE, fixed, block]);
}

function inet4Block(source: number[], sourcePort: number): Buffer {
  const block = Buffer.alloc(12);
  Buffer.from(source).copy(block, 0);
  Buffer.from([10, 0, 0, 1]).copy(block, 4);
  block.writeUInt16BE(sourcePort, 8);
  block.writeUInt16BE(1883, 10);
  return block;
}

const MQTT_CONNECT_START = Buffer.from([0x10, 0x0c]);

describe('PROXY protocol v1', () => {
  it('reads TCP4 and TCP6 source addresses and the header length', () => {
    const header = Buffer.from('PROXY TCP4 192.0.2.10 10.0.0.1 56324 1883\r\n');
    expect(parseProxyHeader(Buffer.concat([header, MQTT_CONNECT_START]))).toEqual({
      status: 'complete', headerLength: header.length, source: { address: '192.0.2.10', port: 56324 },
    });
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 4000 8883\r\n'))).toMatchObject({
      status: 'complete', source: { address: '2001:db8::7', port: 4000 },
    });
  });

  it('UNKNOWN carries no address', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN whatever\r\n'))).toEqual({ status: 'complete', headerLength: 24, source: undefined });
  });

  it('is incomplete until the CRLF, at every split point', () => {
    const header = Buffer.from('PROXY TCP4 192.0.2.10 10.0.0.1 56324 1883\r\n');
    for (let n = 0; n < header.length; n++) expect(parseProxyHeader(header.subarray(0, n)).status, `after ${n} bytes`).toBe('incomplete');
  });

  it.each([
    ['a wrong protocol', 'PROXY UDP4 192.0.2.10 10.0.0.1 1 2\r\n'],
    ['an IPv6 address under TCP4', 'PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n'],
    ['a port out of range', 'PROXY TCP4 192.0.2.10 10.0.0.1 65536 2\r\n'],
    ['a port with a leading zero', 'PROXY TCP4 192.0.2.10 10.0.0.1 0123 2\r\n'],
    ['a missing field', 'PROXY TCP4 192.0.2.10 10.0.0.1 1\r\n'],
    ['a double space', 'PROXY TCP4  192.0.2.10 10.0.0.1 1 2\r\n'],
  ])('refuses %s', (_what, text) => {
    expect(parseProxyHeader(Buffer.from(text)).status).toBe('invalid');
  });

  it('refuses a line longer than 107 bytes without waiting for more', () => {
    expect(parseProxyHeader(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(120)}`)).status).toBe('invalid');
  });
});

describe('PROXY protocol v2', () => {
  it('reads an IPv4 source and skips TLVs', () => {
    const tlv = Buffer.from([0x04, 0x00, 0x01, 0x00]); // PP2_TYPE_NOOP
    const header = v2(0x1, 0x11, Buffer.concat([inet4Block([198, 51, 100, 7], 40000), tlv]));
    expect(parseProxyHeader(Buffer.concat([header, MQTT_CONNECT_START]))).toEqual({
      status: 'complete', headerLength: header.length, source: { address: '198.51.100.7', port: 40000 },
    });
  });

  it('reads an IPv6 source, zeros compressed', () => {
    const block = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000007', 'hex').copy(block, 0);
    block.writeUInt16BE(5000, 32);
    expect(parseProxyHeader(v2(0x1, 0x21, block))).toMatchObject({ source: { address: '2001:db8::7', port: 5000 } });
  });

  it('LOCAL (the balancer health-checking) and UNSPEC carry no address', () => {
    expect(parseProxyHeader(v2(0x0, 0x00, Buffer.alloc(0)))).toEqual({ status: 'complete', headerLength: 16, source: undefined });
    expect(parseProxyHeader(v2(0x0, 0x11, inet4Block([1, 2, 3, 4], 1)))).toMatchObject({ status: 'complete', source: undefined });
    expect(parseProxyHeader(v2(0x1, 0x00, Buffer.alloc(0)))).toMatchObject({ status: 'complete', source: undefined });
  });

  it('is incomplete until the announced length has arrived, at every split point', () => {
    const header = v2(0x1, 0x11, inet4Block([198, 51, 100, 7], 40000));
    for (let n = 0; n < header.length; n++) expect(parseProxyHeader(header.subarray(0, n)).status, `after ${n} bytes`).toBe('incomplete');
  });

  it.each([
    ['version 1 in the v2 format', (() => { const h = v2(0x1, 0x11, inet4Block([1, 2, 3, 4], 1)); h[12] = 0x11; return h; })()],
    ['an unknown command', v2(0x2, 0x11, inet4Block([1, 2, 3, 4], 1))],
    ['an IPv4 block that is too short', v2(0x1, 0x11, Buffer.alloc(8))],
    ['an unknown family', v2(0x1, 0x41, Buffer.alloc(12))],
  ])('refuses %s', (_what, header) => {
    expect(parseProxyHeader(header).status).toBe('invalid');
  });
});

describe('neither', () => {
  it('refuses at the first byte that matches no signature: an MQTT CONNECT, TLS ClientHello or HTTP request', () => {
    for (const start of [MQTT_CONNECT_START, Buffer.from([0x16, 0x03, 0x01]), Buffer.from('GET /ws HTTP/1.1\r\n')]) {
      expect(parseProxyHeader(start)).toEqual({ status: 'invalid', reason: 'no PROXY protocol signature' });
    }
  });
});
