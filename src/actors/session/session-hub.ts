// What every live session, client or endpoint, gets from the rest of the process, in one object
// built by the registry. Sessions depend on these interfaces, not on the registry or on adapters.
// Each session class adds what only it needs (client-session.ts: SessionHub; endpoint-session.ts:
// EndpointSessionHub), next to the class, so no session file needs another's hub.
import type { Logger } from 'pino';
import type { AnyStateMachine } from 'xstate';
import type { SessionReport } from '../../machines/registry.machine.js';
import type { ConnectivityAnnouncer } from '../ports.js';
import type { Journal } from './journal.js';

export interface SessionSettings {
  anonymousAllowed: boolean;
  authenticationTimeoutMs: number;
  negativeCacheMs: number;
  maxHeldMessages: number;
  /** How long an HTTP session keeps its endpoint identified without a request. */
  httpSessionIdleTimeoutMs: number;
}

/** The per-message and per-lifecycle counters sessions bump (bound to prom-client in main). */
export interface SessionCounters {
  publishReceived(qos: number): void;
  kpError(statusCode: number): void;
  connection(outcome: string): void;
  sessionEnded(state: string): void;
  roamed(): void;
}

/** A session as its supervisor sees it. */
export interface Supervised {
  /** The actor threw: clean up what it held. */
  discard(error: unknown): void;
  /** The actor has finished and is forgotten. */
  forgotten(): void;
}

/** Timers of session charts (`after` delays): xstate's clock interface, so tests can pass its SimulatedClock. */
export interface SessionClock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

/** The registry's supervision, as sessions see it. */
export interface Supervision {
  supervise(actorId: string, session: Supervised): void;
  /** How a session (it steps its chart without an actor) reports its end or failure, as an actor's parent would. */
  report(report: SessionReport): void;
  /** The clock of every session chart's timers. */
  readonly clock: SessionClock;
}

/** What every session needs from the hub. */
export interface SharedHub {
  readonly settings: SessionSettings;
  readonly replicaId: string;
  readonly connectivity: ConnectivityAnnouncer;
  readonly counters: SessionCounters;
  readonly logger: Logger;
  /** A journal for the actor `actorId` running `machine` (the pure chart, which replays it). */
  newJournal(machine: AnyStateMachine, actorId: string): Journal;
}
