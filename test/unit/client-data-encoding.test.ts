// The outbox writes 4/ESP ClientData into a buffer sized for it instead of through avsc's
// toBuffer: the bytes must be exactly the schema's encoding, for any strings and payload sizes.
import { describe, expect, it } from 'vitest';
import type { ClientDataMessage } from '../../src/actors/ports.js';
import { codecs } from '../../src/infra/nats/codecs.js';
import { encodeClientData } from '../../src/infra/nats/client-data-outbox.js';

const base: ClientDataMessage = {
  correlationId: '5a0e6c51-4b0e-4a53-9d8e-6c0a4f1e2b77',
  timestamp: 1_764_567_890_123,
  timeout: 0,
  appVersionName: 'demo_application_v1',
  endpointId: null,
  resourcePath: '/json',
  requestId: null,
  payload: Buffer.from('{"temperature":21}'),
};

const cases: Array<[string, ClientDataMessage]> = [
  ['endpoint-unaware, no request ID', base],
  ['endpoint-aware, with a request ID and a timeout', { ...base, endpointId: 'endpoint-1', requestId: 2 ** 31 - 1, timeout: 30_000 }],
  ['multi-byte strings (3 and 4 UTF-8 bytes per character)', { ...base, appVersionName: '温度计_v1', resourcePath: '/𝄞/données', endpointId: 'ключ' }],
  ['empty payload', { ...base, payload: Buffer.alloc(0) }],
  ['a payload of 64 KiB', { ...base, payload: Buffer.alloc(64 * 1024, 0xab) }],
];

describe('encodeClientData', () => {
  it.each(cases)('%s: the schema encoding, byte for byte, and it decodes back', (_name, message) => {
    const encoded = encodeClientData(message);
    expect(encoded.equals(codecs.clientData.encode({ ...message, configName: null }))).toBe(true);
    expect(codecs.clientData.decode(encoded)).toEqual({ ...message, configName: null });
  });

  it('gives every message its own bytes (the NATS client holds them until its next socket write)', () => {
    const first = encodeClientData(base);
    const copy = Buffer.from(first);
    encodeClientData({ ...base, correlationId: 'ffffffff-ffff-4fff-bfff-ffffffffffff', payload: Buffer.from('other') });
    expect(first.equals(copy)).toBe(true);
  });
});
