// What the core needs from the outside world, in the core's own terms. The adapters in src/infra
// implement these interfaces and convert to and from the wire (MQTT packets, Avro records on NATS
// subjects); the core never imports an adapter. Tests can implement them too.
import type { Transport } from '../machines/client-session.machine.js';

export type { Transport };

// ---- MQTT side ----

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

// ---- credential services (16/ECAP, 22/CAP) ----

/** A credential service's answer, or why there is none (the caller answers CONNACK 3 / 1/KP 503). */
export type ValidationOutcome<T> = { ok: true; reply: T } | { ok: false; reason: 'nats-unavailable' | 'timeout' };

/** The answer about a client's credentials (username/password or certificate), whichever protocol asked. */
export interface ClientCredentialVerdict {
  statusCode: number;
  clientId: string | null;
  credentialId: string | null;
  reasonPhrase: string | null;
  /** The tenant that owns the credentials (22/CAP); null from 16/ECAP. */
  tenantId: string | null;
}

/**
 * Client authentication (CONNECT): one port, two adapters — 16/ECAP (Kaa 1.0's Credential
 * Management) and 22/CAP (Kaa 1.2+'s Client Credentials Management).
 */
export interface ClientAuthenticator {
  /** The credential service's instance name, for log lines about its answers. */
  readonly provider: string;
  validateUsernamePassword(username: string | null, password: string | null): Promise<ValidationOutcome<ClientCredentialVerdict>>;
  validateCertificate(issuer: string, serialNumber: string): Promise<ValidationOutcome<ClientCredentialVerdict>>;
}

/** The answer about an endpoint token: which endpoint it identifies. */
export interface TokenVerdict {
  statusCode: number;
  endpointId: string | null;
  tokenId: string | null;
  reasonPhrase: string | null;
}

/** Endpoint identification by token (16/ECAP, whichever protocol authenticates clients). */
export interface TokenValidator {
  validateToken(appName: string, token: string): Promise<ValidationOutcome<TokenVerdict>>;
}

// ---- logging ----

/** Log lines a peer could repeat at will: at most one per kind and source per interval. */
export interface RateLimitedLog {
  error(kind: string, source: string, fields: Record<string, unknown>, message: string): void;
}

// ---- endpoint connectivity (9/ELCE) ----

export interface ConnectivityAnnouncer {
  announceConnected(endpoints: Record<string, string>): void;
  announceDisconnected(endpoints: Record<string, string>): void;
}

/** Endpoints a replica announced connected: endpointId → appVersionName. */
export interface EndpointsConnected {
  endpoints: Record<string, string>;
  originatorReplicaId: string;
}

// ---- extension traffic (4/ESP) ----

/** One client message for an extension instance, as the core builds it (the adapter encodes it). */
export interface ClientDataMessage {
  correlationId: string;
  timestamp: number;
  /** How long the extension has to answer, in ms; 0 for no limit. */
  timeout: number;
  appVersionName: string;
  endpointId: string | null;
  resourcePath: string;
  requestId: number | null;
  payload: Buffer;
}

/**
 * Where client messages leave the process. `destination` is what the adapter gave the routing
 * table for the extension instance (see RoutingTable); the core passes it back unread.
 */
export interface ClientDataOutbox {
  /** At most once (QoS 0): `handedOver` runs once the message is on its way; lost if the link is down. */
  sendAtMostOnce(destination: string, message: ClientDataMessage, handedOver: () => void): void;
  /** Kept until confirmed, then `confirmed` runs. False (nothing kept) when too many wait for confirmation. */
  send(destination: string, message: ClientDataMessage, confirmed: () => void): boolean;
}

/** An extension's reply or push, decoded by the adapter. */
export interface ExtensionReply {
  correlationId: string;
  appVersionName: string | null;
  extensionInstanceName: string | null;
  endpointId: string | null;
  resourcePath: string;
  requestId: number | null;
  payload: Buffer | null;
  statusCode: number;
  reasonPhrase: string | null;
}

// ---- the management API ----

/** What the session inspection routes read and do; answers are JSON-ready (never a password or a token). */
export interface SessionInspection {
  inspectSessions(): unknown;
  inspectSession(mqttClientId: string): unknown | undefined;
  /** A client session's journal with its endpoint sessions' journals (live or recently ended). */
  sessionJournal(mqttClientId: string): unknown | undefined;
  inspectEndpoint(endpointId: string): unknown;
  /** Disconnects a client on an operator's request; false when no such live session. */
  disconnectByAdmin(mqttClientId: string): boolean;
}
