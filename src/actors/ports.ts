// What the live actors need from the outside world. src/infra implements these; tests can too.
import type { Transport } from '../machines/client-session.machine.js';

/** One client's MQTT connection, as the session sees it. */
export interface MqttConnection {
  readonly remoteAddress: string | undefined;
  /** CONNACK 0. */
  accept(): void;
  /** CONNACK with a refusal code; the connection then closes. */
  refuse(returnCode: 3 | 4 | 5): void;
  /** Sends a PUBLISH to this connection only, whatever it subscribed to. */
  deliver(topic: string, payload: Buffer, qos: 0 | 1): void;
  /** Closes the connection without publishing its will. */
  close(reason: string): void;
}

/** A TLS client certificate; `trusted` when Node's TLS stack verified its chain against the CA file. */
export interface PresentedCertificate {
  issuer: string;
  serialNumber: string;
  trusted: boolean;
  problem?: string;
}

export interface ConnectRequest {
  mqttClientId: string;
  transport: Transport;
  username: string | null;
  password: Buffer | null;
  certificate: PresentedCertificate | null;
}

export interface IncomingPublish {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
}

/** Completes a PUBLISH: no argument sends PUBACK (QoS 1); an error closes the connection without one. */
export type PublishAck = (error?: Error) => void;

/** Completes one SUBSCRIBE filter: granted (SUBACK QoS ≤ 1) or refused (SUBACK 0x80). */
export type SubscriptionAnswer = (granted: boolean) => void;

/** The session side of one MQTT connection, as the MQTT adapter sees it. */
export interface MqttSession {
  publish(packet: IncomingPublish, ack: PublishAck): void;
  /** A SUBSCRIBE filter under `kp1/` (MQTT 3.1.1 §3.8): its SUBACK waits for `answer`. */
  subscribe(filter: string, answer: SubscriptionAnswer): void;
  disconnected(reason: string): void;
}

/** A credential or token provider's answer, or why there is none. */
export type ProviderOutcome<T> = { ok: true; reply: T } | { ok: false; reason: 'nats-unavailable' | 'timeout' };

/** What a client credential check answered, whichever protocol asked (16/ECAP or 22/CAP). */
export interface ClientCredentialVerdict {
  statusCode: number;
  reasonPhrase: string | null;
  clientId: string | null;
  credentialId: string | null;
  /** The tenant that owns the credentials (22/CAP); null from 16/ECAP. */
  tenantId: string | null;
}

/**
 * Client authentication (CONNECT): one port, two adapters — 16/ECAP (Kaa 1.0's Credential
 * Management) and 22/CAP (Kaa 1.2+'s Client Credentials Management).
 */
export interface ClientAuthenticator {
  validateUsernamePassword(username: string | null, password: string | null): Promise<ProviderOutcome<ClientCredentialVerdict>>;
  validateCertificate(issuer: string, serialNumber: string): Promise<ProviderOutcome<ClientCredentialVerdict>>;
}

export interface TokenVerdict {
  statusCode: number;
  reasonPhrase: string | null;
  endpointId: string | null;
  tokenId: string | null;
}

/** Endpoint identification by token (16/ECAP, whichever protocol authenticates clients). */
export interface TokenValidator {
  validateToken(appName: string, token: string): Promise<ProviderOutcome<TokenVerdict>>;
}

export interface ConnectivityAnnouncer {
  announceConnected(endpoints: Record<string, string>): void;
  announceDisconnected(endpoints: Record<string, string>): void;
}
