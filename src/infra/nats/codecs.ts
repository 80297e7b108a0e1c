// Avro codecs for every message KPC sends or receives. Each type is compiled once at load time.
import avro from 'avsc';
import type { ClientDataMessage } from '../../actors/ports.js';
import * as schemas from './schemas.js';

/** 4/ESP ClientData on the wire: the core's message plus the schema's `configName` (KPC sends null). */
export type ClientData = ClientDataMessage & { configName: string | null };

export interface ExtensionData {
  correlationId: string;
  timestamp: number;
  timeout: number;
  appVersionName: string | null;
  extensionInstanceName: string | null;
  endpointId: string | null;
  resourcePath: string;
  requestId: number | null;
  payload: Buffer | null;
  statusCode: number;
  reasonPhrase: string | null;
}

/** 9/ELCE connected and disconnected share one shape. */
export interface ConnectivityEvent {
  correlationId: string;
  timestamp: number;
  timeout: number;
  endpoints: Record<string, string>;
  originatorReplicaId: string;
}

interface EcapEnvelope {
  correlationId: string;
  timestamp: number;
  timeout: number;
}

export interface UsernamePasswordRequest extends EcapEnvelope {
  username: string | null;
  password: string | null;
}
export interface CertificateRequest extends EcapEnvelope {
  issuer: string;
  serialNumber: string;
}
export interface ClientCredentialResponse extends EcapEnvelope {
  credentialId: string | null;
  clientId: string | null;
  statusCode: number;
  reasonPhrase: string | null;
}
export interface TokenRequest extends EcapEnvelope {
  appName: string;
  token: string;
}
export interface TokenResponse extends EcapEnvelope {
  tokenId: string | null;
  endpointId: string | null;
  statusCode: number;
  reasonPhrase: string | null;
}
export interface TokenRevokedEvent extends EcapEnvelope {
  appName: string;
  endpointId: string;
  tokenIds: string[];
  originatorReplicaId: string;
}
export interface CredentialRevokedEvent extends EcapEnvelope {
  credentialId: string;
  originatorReplicaId: string;
}
export interface BroadcastConfigurationUpdate {
  correlationId: string;
  timestamp: number;
  originatorReplicaId: string;
  tenantID: string | null;
  appName: string | null;
  appVerName: string | null;
}
export interface ServiceConfigurationUpdate {
  correlationId: string;
  timestamp: number;
  tenantID: string;
  appName: string | null;
  appVerName: string | null;
}

/** 22/CAP basic (username/password) authentication request to the Client Credentials Management service. */
export interface CapBasicRequest extends EcapEnvelope {
  tenantId: string;
  username: string;
  password: string;
}
export interface CapCertificateRequest extends EcapEnvelope {
  issuer: string;
  serialNumber: string;
}
/** 22/CAP basic and certificate responses (a basic response names no tenant: it was asked for one). */
export interface CapResponse extends EcapEnvelope {
  tenantId?: string | null;
  credentialsId: string | null;
  clientId: string | null;
  statusCode: number;
  reasonPhrase: string | null;
}
export interface CapCredentialsRevokedEvent extends EcapEnvelope {
  tenantId: string;
  credentialsId: string;
  originatorReplicaId: string;
}

/** One endpoint's traffic over a report's interval (9/ELCE TrafficReportEvent); counts as BigInt. */
export interface TrafficStat {
  totalReceivedPayload: bigint;
  totalSentPayload: bigint;
  totalReceivedMessageCount: bigint;
  totalSentMessageCount: bigint;
}
export interface TrafficReportEvent {
  /** tenant ID → application name → endpoint ID → traffic. */
  tenantTrafficStats: Record<string, Record<string, Record<string, TrafficStat>>>;
  /** Epoch nanoseconds: beyond 2^53, so every `long` of this record is a BigInt. */
  timeFrom: bigint;
  timeTo: bigint;
  correlationId: string;
  originatorReplicaId: string;
  timestamp: bigint;
  timeout: bigint;
}

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

function codec<T>(schema: unknown, options: Partial<avro.ForSchemaOptions> = {}): Codec<T> {
  const type = avro.Type.forSchema(schema as avro.Schema, options);
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
  clientData: codec<ClientData>(schemas.clientDataSchema),
  extensionData: codec<ExtensionData>(schemas.extensionDataSchema),
  endpointConnected: codec<ConnectivityEvent>(schemas.endpointConnectedSchema),
  endpointDisconnected: codec<ConnectivityEvent>(schemas.endpointDisconnectedSchema),
  usernamePasswordRequest: codec<UsernamePasswordRequest>(schemas.usernamePasswordRequestSchema),
  usernamePasswordResponse: codec<ClientCredentialResponse>(schemas.usernamePasswordResponseSchema),
  certificateRequest: codec<CertificateRequest>(schemas.certificateRequestSchema),
  certificateResponse: codec<ClientCredentialResponse>(schemas.certificateResponseSchema),
  tokenRequest: codec<TokenRequest>(schemas.tokenRequestSchema),
  tokenResponse: codec<TokenResponse>(schemas.tokenResponseSchema),
  tokenRevoked: codec<TokenRevokedEvent>(schemas.tokenRevokedSchema),
  credentialRevoked: codec<CredentialRevokedEvent>(schemas.credentialRevokedSchema),
  broadcastConfigurationUpdate: codec<BroadcastConfigurationUpdate>(schemas.broadcastConfigurationUpdateSchema),
  serviceConfigurationUpdate: codec<ServiceConfigurationUpdate>(schemas.serviceConfigurationUpdateSchema),
  capBasicRequest: codec<CapBasicRequest>(schemas.capBasicRequestSchema),
  capBasicResponse: codec<CapResponse>(schemas.capBasicResponseSchema),
  capCertificateRequest: codec<CapCertificateRequest>(schemas.capCertificateRequestSchema),
  capCertificateResponse: codec<CapResponse>(schemas.capCertificateResponseSchema),
  capCredentialsRevoked: codec<CapCredentialsRevokedEvent>(schemas.capCredentialsRevokedSchema),
  trafficReport: codec<TrafficReportEvent>(schemas.trafficReportSchema, { registry: { long: bigIntLong } }),
} as const;
