// Avro codecs for every message KPC sends or receives. Each type is compiled once at load time.
import avro from 'avsc';
import type * as wire from './avro-types.generated.js';
import { bigIntLongSchemas, type AvroRecordBySchema } from './avro-types.generated.js';
import * as schemas from './schemas.js';

// The wire types are generated from schemas.ts (`npm run gen:avro`); these are the names the adapter
// uses for them. Where two schemas define the same shape, one name covers both.
export type ClientData = wire.ClientData;
export type ExtensionData = wire.ExtensionData;
/** 9/ELCE connected and disconnected share one shape. */
export type ConnectivityEvent = wire.ConnectedEvent | wire.DisconnectedEvent;
export type UsernamePasswordRequest = wire.ClientUsernamePasswordValidationRequest;
export type CertificateRequest = wire.ClientCertificateValidationRequest;
export type ClientCredentialResponse = wire.ClientUsernamePasswordValidationResponse | wire.ClientCertificateValidationResponse;
export type TokenRequest = wire.EndpointTokenValidationRequest;
export type TokenResponse = wire.EndpointTokenValidationResponse;
export type TokenRevokedEvent = wire.EndpointTokenRevokedEvent;
export type CredentialRevokedEvent = wire.ClientCredentialRevokedEvent;
export type BroadcastConfigurationUpdate = wire.BroadcastConfigurationUpdateEvent;
export type ServiceConfigurationUpdate = wire.ServiceSpecificConfigurationUpdateEvent;
/** 22/CAP basic authentication request to the Client Credentials Management service. */
export type CapBasicRequest = wire.ClientBasicAuthenticationRequest;
export type CapCertificateRequest = wire.ClientCertificateAuthenticationRequest;
/** 22/CAP basic and certificate responses (a basic response names no tenant: it was asked for one). */
export type CapResponse = wire.ClientCertificateAuthenticationResponse | (wire.ClientBasicAuthenticationResponse & { tenantId?: undefined });
export type CapCredentialsRevokedEvent = wire.ClientCredentialsRevokedEvent;
/** One endpoint's traffic over a report's interval (9/ELCE TrafficReportEvent); counts as BigInt. */
export type TrafficStat = wire.TrafficStat;
/** Epoch nanoseconds are beyond 2^53, so every `long` of this record is a BigInt. */
export type TrafficReportEvent = wire.TrafficReportEvent;

/** A compiled Avro type with a typed face. `decode` throws on bytes that are not a valid record. */
export interface Codec<T> {
  readonly type: avro.Type;
  encode(value: T): Buffer;
  decode(bytes: Uint8Array): T;
}

/**
 * An Avro `long` carried as a BigInt. avsc's default `long` is a JavaScript number: it refuses to
 * encode integers past 2^53 and refuses to decode them ("potential precision loss"), and epoch
 * nanoseconds are past 2^53. avsc hands these hooks the value as 8 bytes and does the wire's
 * zig-zag varint itself, so the encoding is the standard one.
 */
const bigIntLong = avro.types.LongType.__with({
  fromBuffer: (buffer: Buffer) => buffer.readBigInt64LE(),
  toBuffer: (value: bigint) => {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64LE(value);
    return buffer;
  },
  fromJSON: (value: number | string) => BigInt(value),
  toJSON: (value: bigint) => Number(value),
  isValid: (value: unknown) => typeof value === 'bigint',
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

/**
 * The codec of one schema of schemas.ts, typed with the record generated from that same schema, and
 * reading `long`s as BigInts exactly where the generated types say so.
 */
function codec<Name extends keyof AvroRecordBySchema>(schemaName: Name): Codec<AvroRecordBySchema[Name]> {
  type T = AvroRecordBySchema[Name];
  const options = bigIntLongSchemas.has(schemaName) ? { registry: { long: bigIntLong } } : {};
  const type = avro.Type.forSchema(schemas[schemaName] as unknown as avro.Schema, options);
  return {
    type,
    encode: (value) => type.toBuffer(value),
    decode: (bytes) => {
      const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      // fromBuffer throws on truncated input and on trailing bytes, so garbage is rejected.
      return type.fromBuffer(buffer) as T;
    },
  };
}

export const codecs = {
  clientData: codec('clientDataSchema'),
  extensionData: codec('extensionDataSchema'),
  endpointConnected: codec('endpointConnectedSchema'),
  endpointDisconnected: codec('endpointDisconnectedSchema'),
  usernamePasswordRequest: codec('usernamePasswordRequestSchema'),
  usernamePasswordResponse: codec('usernamePasswordResponseSchema'),
  certificateRequest: codec('certificateRequestSchema'),
  certificateResponse: codec('certificateResponseSchema'),
  tokenRequest: codec('tokenRequestSchema'),
  tokenResponse: codec('tokenResponseSchema'),
  tokenRevoked: codec('tokenRevokedSchema'),
  credentialRevoked: codec('credentialRevokedSchema'),
  broadcastConfigurationUpdate: codec('broadcastConfigurationUpdateSchema'),
  serviceConfigurationUpdate: codec('serviceConfigurationUpdateSchema'),
  capBasicRequest: codec('capBasicRequestSchema'),
  capBasicResponse: codec('capBasicResponseSchema'),
  capCertificateRequest: codec('capCertificateRequestSchema'),
  capCertificateResponse: codec('capCertificateResponseSchema'),
  capCredentialsRevoked: codec('capCredentialsRevokedSchema'),
  trafficReport: codec('trafficReportSchema'),
} as const;
