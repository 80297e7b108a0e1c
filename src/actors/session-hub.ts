// Everything a live session needs from the rest of the process, in one object built by the
// registry. Sessions depend on this interface, not on the registry or on infra classes.
import type { Logger } from 'pino';
import type { AnyActorRef, AnyStateMachine } from 'xstate';
import type { RoutingTable } from '../protocol/routing.js';
import type { ClientDataForwarder } from './client-data-forwarder.js';
import type { ConnectivityAnnouncer, CredentialValidator } from './ports.js';
import type { ClientSession } from './client-session.js';
import type { EndpointSession } from './endpoint-session.js';
import type { Journal } from './journal.js';
import type { AuthenticationGate } from './authentication-gate.js';

export interface SessionSettings {
  anonymousAllowed: boolean;
  authenticationTimeoutMs: number;
  negativeCacheMs: number;
  maxHeldMessages: number;
}

/** The per-message and per-lifecycle counters sessions bump (bound to prom-client in main). */
export interface SessionCounters {
  publishReceived(qos: number): void;
  kpError(statusCode: number): void;
  connection(outcome: string): void;
  sessionEnded(state: string): void;
  roamed(): void;
}

/** The registry's bookkeeping, as sessions see it. */
export interface SessionDirectory {
  /** The xstate parent of session actors: their ends and failures reach the registry through it. */
  readonly supervisor: AnyActorRef;
  supervise(actorId: string, session: { discard(error: unknown): void; forgotten(): void }): void;
  clientAccepted(session: ClientSession, credentialIds: readonly string[]): void;
  clientEnded(session: ClientSession): void;
  /** This endpoint session now receives the endpoint's pushes; any other local one is roamed. */
  claimEndpoint(session: EndpointSession, endpointId: string): void;
  releaseEndpoint(session: EndpointSession, endpointId: string | null): void;
  holds(session: EndpointSession): boolean;
  /** False while NATS is down or the connection limit is reached (CONNACK 3). */
  acceptingConnections(): boolean;
}

/** Log lines a peer could repeat at will: at most one per kind and source per interval (infra/log-throttle.ts). */
export interface RateLimitedLog {
  error(kind: string, source: string, fields: Record<string, unknown>, message: string): void;
}

export interface SessionHub {
  readonly settings: SessionSettings;
  readonly replicaId: string;
  routing(): RoutingTable;
  readonly credentials: CredentialValidator;
  readonly authentication: AuthenticationGate;
  /** Remembers requests by the client session's connection id, never by the session itself. */
  readonly forwarder: ClientDataForwarder<string>;
  readonly connectivity: ConnectivityAnnouncer;
  readonly directory: SessionDirectory;
  readonly counters: SessionCounters;
  readonly logger: Logger;
  readonly warnings: RateLimitedLog;
  newJournal(machine: AnyStateMachine): Journal;
}
