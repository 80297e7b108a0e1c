// What the live actors need from the outside world. src/infra implements these; tests can too.
import type { Transport } from '../machines/client-session.machine.js';
import type { ClientCredentialResponse, TokenResponse } from '../infra/nats/codecs.js';
import type { EcapOutcome } from '../infra/nats/ecap-client.js';

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

/** The session side of one MQTT connection, as the MQTT adapter sees it. */
export interface MqttSession {
  publish(packet: IncomingPublish, ack: PublishAck): void;
  disconnected(reason: string): void;
}

export interface CredentialValidator {
  /** The provider's service instance name, for log lines about its answers. */
  readonly provider: string;
  validateUsernamePassword(username: string | null, password: string | null): Promise<EcapOutcome<ClientCredentialResponse>>;
  validateCertificate(issuer: string, serialNumber: string): Promise<EcapOutcome<ClientCredentialResponse>>;
  validateToken(appName: string, token: string): Promise<EcapOutcome<TokenResponse>>;
}

export interface ConnectivityAnnouncer {
  announceConnected(endpoints: Record<string, string>): void;
  announceDisconnected(endpoints: Record<string, string>): void;
}
