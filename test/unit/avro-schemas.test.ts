// Pins every schema KPC uses to the published Kaa RFC file it was copied from. The digests were
// taken from the published .avsc files (with `doc` strings removed, keys in published order), so a
// renamed field, a reordered union, or a lost default fails here.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as schemas from '../../src/infra/nats/schemas.js';
import { codecs } from '../../src/infra/nats/codecs.js';

const publishedDigests: Record<string, string> = {
  clientDataSchema: 'a0fe1e44254619a7cf0d9c6a787c2be8', // 0004-client-data.avsc
  extensionDataSchema: 'eb08a35b9adb9edb2656d78f2d4c2b7e', // 0004-extension-data.avsc
  endpointConnectedSchema: '23e64684ae822d3e25a056b66bb572de', // 0009-ep-connected.avsc
  endpointDisconnectedSchema: '74d72f9d84a8c038a991cf0be22c1cb8', // 0009-ep-disconnected.avsc
  usernamePasswordRequestSchema: '70cf121e7e4c29aca6b4d46711d6629b',
  usernamePasswordResponseSchema: 'b05ebda1019a2e48a9415fd54227d8f2',
  certificateRequestSchema: 'fd996be7f602f26bd81c5250e8a90eb4',
  certificateResponseSchema: 'c07c190f517d7548ee6989fcc0fd2a9f',
  tokenRequestSchema: 'def287d5ebb82d3792fbad1758d7d85e',
  tokenResponseSchema: '009f2b6e4e2ea76d518928bc9a1c2143',
  tokenRevokedSchema: '7b26d02b70729176dba1fa0a34f6e5f4',
  credentialRevokedSchema: 'd41a41548381ff0b57321fc4659a64eb',
  broadcastConfigurationUpdateSchema: '47527d3c63681cf11b57b89aa1040db4',
  serviceConfigurationUpdateSchema: 'ab58861d35aa35aa9aa4d9c6686454f2',
};

describe('Avro schemas', () => {
  it.each(Object.entries(publishedDigests))('%s is the published schema', (name, digest) => {
    const schema = (schemas as Record<string, unknown>)[name];
    expect(schema, name).toBeDefined();
    expect(createHash('sha256').update(JSON.stringify(schema)).digest('hex').slice(0, 32)).toBe(digest);
  });

  it('every exported schema is pinned', () => {
    expect(Object.keys(schemas).sort()).toEqual(Object.keys(publishedDigests).sort());
  });

  it('round-trips ClientData with a null endpoint and a zero request id', () => {
    const value = {
      correlationId: 'c1', timestamp: 1, timeout: 0, appVersionName: 'v1', endpointId: null,
      resourcePath: '/json', requestId: 0, payload: Buffer.from('{}'), configName: null,
    };
    expect(codecs.clientData.decode(codecs.clientData.encode(value))).toEqual(value);
  });

  it('rejects bytes that are not a record', () => {
    expect(() => codecs.extensionData.decode(Buffer.from('not avro at all, clearly'))).toThrow();
    expect(() => codecs.tokenResponse.decode(Buffer.alloc(0))).toThrow();
  });
});
