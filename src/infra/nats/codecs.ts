// Avro codecs for every message KPC sends or receives. Each type is compiled once at load time.
import avro from 'avsc';
import * as schemas from './schemas.js';

export interface ClientData {
  correlationId: string;
  timestamp: number;
  timeout: number;
  appVersionName: string;
  endpointId: string | null;
  resourcePath: string;
  requestId: number | null;
  payload: Buffer;
  configName: string | null;
}

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

/** A compiled Avro type with a typed face. `decode` throws on bytes that are not a valid record. */
export interface Codec<T> {
  readonly type: avro.Type;
  encode(value: T): Buffer;
  decode(bytes: Uint8Array): T;
}

function codec<T>(schema: unknown): Codec<T> {
  const type = avro.Type.forSchema(schema as avro.Schema);
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
} as const;
