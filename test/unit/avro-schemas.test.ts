// Pins every schema KPC uses to the published Kaa RFC file it was copied from. The digests were
// taken from the published .avsc files (with `doc` strings removed, keys in published order), so a
// renamed field, a reordered union, or a lost default fails here.
import { createHash } from 'node:crypto';
import avro from 'avsc';
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
  capBasicRequestSchema: '8377b182473fbf2ac2b1a2f0eb85cacd', // 0022-basic-authentication-request.avsc
  capBasicResponseSchema: '2587e35145a76e71a61f825fa12b5b5d', // 0022-basic-authentication-response.avsc
  capCertificateRequestSchema: '79a398e6be246fef27a970c6076a8a15', // 0022-certificate-authentication-request.avsc
  capCertificateResponseSchema: '6cdd4515d652d582138bc06460373311', // 0022-certificate-authentication-response.avsc
  capCredentialsRevokedSchema: 'efbf6fa23317472175c8808ad1d5e7f0', // 0022-credentials-revoked.avsc
  trafficReportSchema: '2ed1afcccb8bd50d1371e68061f6870c', // 0009-ep-traffic-stats.avsc
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

  it('carries epoch nanoseconds in a TrafficReportEvent exactly (past 2^53)', () => {
    const stat = { totalReceivedPayload: 5n, totalSentPayload: 1n, totalReceivedMessageCount: 2n, totalSentMessageCount: 1n };
    const value = {
      tenantTrafficStats: { tenant: { app: { 'endpoint-1': stat } } },
      timeFrom: 1_764_561_234_567_891_234n,
      timeTo: 1_764_561_294_567_891_235n,
      correlationId: 'c1', originatorReplicaId: 'r1', timestamp: 1_764_561_294_567n, timeout: 0n,
    };
    const decoded = codecs.trafficReport.decode(codecs.trafficReport.encode(value));
    expect(decoded).toEqual(value);
    expect(decoded.timeFrom).toBe(1_764_561_234_567_891_234n);
    // The wire format is Avro's ordinary zig-zag varint: a reader with plain `long`s agrees on small values.
    const plainReader = avro.Type.forSchema(schemas.trafficReportSchema as unknown as avro.Schema);
    const small = { ...value, timeFrom: 300n, timeTo: 1_000n };
    expect(plainReader.fromBuffer(codecs.trafficReport.encode(small))).toMatchObject({ timeFrom: 300, timeTo: 1_000 });
  });

  it('rejects bytes that are not a record', () => {
    expect(() => codecs.extensionData.decode(Buffer.from('not avro at all, clearly'))).toThrow();
    expect(() => codecs.tokenResponse.decode(Buffer.alloc(0))).toThrow();
  });
});
