// The live registry: the supervisor of every session (client, endpoint and HTTP sessions step their
// charts without an actor and report their end or failure through report()), so their completion
// and failures arrive here, and the process's lifecycle
// (src/machines/registry.machine.ts). Who holds
// which endpoint and credential is its Directory (directory.ts), a plain module rather than chart
// context because a snapshot is copied on every transition and a replica holds up to
// `max-connections` sessions; what the management API shows is SessionInspector's.
import { createActor, fromPromise, type Actor } from 'xstate';
import type { Logger } from 'pino';
import { registryMachine, type RegistryEvent, type SessionReport } from '../../machines/registry.machine.js';
import { ClientSession, type SessionDirectory, type SessionHub } from '../session/client-session.js';
import { EndpointSession } from '../session/endpoint-session.js';
import type { HttpSession, HttpSessionDirectory } from '../session/http-session.js';
import { HttpSessions } from '../session/http-sessions.js';
import type { ReplyTarget } from '../traffic/extension-data-router.js';
import type { SessionClock, Supervised } from '../session/session-hub.js';
import type { ConnectRequest, EndpointsConnected, MqttConnection, MqttSession } from '../ports.js';
import { Directory } from './directory.js';
import { EndedSessions } from './ended-sessions.js';
import { PacedDrain, type DrainPace } from './paced-drain.js';
import { describeHttpSession, describeSession, httpJournalsOf, journalsOf } from './session-inspection.js';
import { SessionInspector } from './session-inspector.js';

/** What the composition root does for the registry's chart. */
export interface RegistryHooks {
  announceReady(): void;
  stopAccepting(): void;
  /** Resolves when everything acknowledged and announced has reached NATS, and NATS is drained. */
  drainOutbound(): Promise<void>;
  shutdownTimedOut(): void;
}

export interface RegistryOptions {
  replicaId: string;
  gracefulShutdownMs: number;
  maxConnections: number;
  natsConnected(): boolean;
  logger: Logger;
  onActorFailed(): void;
  retainEnded: { count: number; forMs: number };
  /** How fast client connections are closed on shutdown; absent: all at once. */
  drainPace?: DrainPace;
  /** Timers of every session chart (`after` delays); tests pass xstate's SimulatedClock. */
  clock?: SessionClock;
}

const realClock: SessionClock = {
  setTimeout: (fn, timeout) => setTimeout(fn, timeout),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};


export class Registry implements SessionDirectory, HttpSessionDirectory {
  readonly actor: Actor<ReturnType<Registry['logic']>>;
  readonly hub: SessionHub;
  /** What the management API reads and does (the SessionInspection port). */
  readonly inspection: SessionInspector;
  /** Sessions of 1/KP over HTTP, by token: they hold endpoints without a connection. */
  readonly http: HttpSessions;
  private readonly supervised = new Map<string, Supervised>();
  /** Live client sessions by connection id. */
  private readonly sessions = new Map<string, ClientSession>();
  private readonly directory = new Directory<EndpointSession, ClientSession>();
  private readonly ended: EndedSessions;
  /** Open HTTP connections: they count towards `max-connections` with the MQTT sessions. */
  private httpConnections = 0;
  /** Settles once every session has been asked to stop (shutdown closes them at a pace). */
  private sessionsStopping: Promise<void> = Promise.resolve();

  constructor(
    hub: Omit<SessionHub, 'directory'>,
    private readonly options: RegistryOptions,
    private readonly hooks: RegistryHooks,
  ) {
    this.hub = { ...hub, directory: this };
    this.ended = new EndedSessions(options.retainEnded.count, options.retainEnded.forMs);
    this.http = new HttpSessions({ ...this.hub, directory: this });
    this.inspection = new SessionInspector(options.replicaId, this.sessions, this.directory, this.ended, this.http);
    this.actor = createActor(this.logic(), {
      id: 'registry',
      input: { gracefulShutdownMs: options.gracefulShutdownMs },
      // xstate treats `clock: undefined` as a clock: pass the option only when there is one.
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
  }

  get clock(): SessionClock {
    return this.options.clock ?? realClock;
  }

  report(report: SessionReport): void {
    this.actor.send(report);
  }

  start(): void {
    this.actor.start();
  }

  get state(): string {
    return this.actor.getSnapshot().value as string;
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  get httpConnectionCount(): number {
    return this.httpConnections;
  }

  /** The HTTP adapter's count of its connections; false (and not counted) when the limit is reached. */
  httpConnectionOpened(): boolean {
    if (this.sessions.size + this.httpConnections >= this.options.maxConnections) return false;
    this.httpConnections++;
    return true;
  }

  httpConnectionClosed(): void {
    this.httpConnections--;
  }

  /** The MQTT adapter's entry point: a CONNECT arrived. */
  openSession(connection: MqttConnection, request: ConnectRequest): MqttSession {
    const session = new ClientSession(this.hub, connection, request);
    this.sessions.set(session.connectionId, session);
    session.start();
    return session;
  }

  liveSessionByConnection(connectionId: string): ClientSession | undefined {
    return this.sessions.get(connectionId);
  }

  /** Who waits for a reply under this id: a live MQTT session (connection id) or an HTTP request. */
  replyTarget(id: string): ReplyTarget | undefined {
    return this.sessions.get(id) ?? this.http.waitingExchange(id);
  }

  holderOf(endpointId: string): EndpointSession | undefined {
    return this.directory.holderOf(endpointId);
  }

  /** endpointId → appVersionName of every endpoint whose pushes this replica receives. */
  heldEndpoints(): Record<string, string> {
    return this.directory.heldEndpoints();
  }

  shutdown(signal: string): void {
    this.actor.send({ type: 'shutdown.requested', signal });
  }

  // ---- cluster events (16/ECAP revocation, 9/ELCE): told to every session concerned, whose chart decides ----

  /** `tenantId`: 22/CAP scopes credentials by tenant; null (16/ECAP) names none. Returns the sessions revoked. */
  credentialRevoked(credentialId: string, tenantId: string | null = null): number {
    const holders = this.directory.holdersOfCredential(credentialId);
    for (const session of holders) session.send({ type: 'credential.revoked', credentialId, tenantId });
    return holders.filter((session) => session.state === 'revoked').length;
  }

  tokenRevoked(endpointId: string, tokenIds: string[]): number {
    const sessions = this.directory.identifiedAs(endpointId);
    for (const session of sessions) session.send({ type: 'token.revoked', tokenIds });
    return sessions.length;
  }

  /** Another replica announced endpoints connected. */
  endpointsConnected(event: EndpointsConnected): void {
    if (event.originatorReplicaId === this.options.replicaId) return; // local claims were told in claimEndpoint
    for (const endpointId of Object.keys(event.endpoints)) {
      for (const session of this.directory.identifiedAs(endpointId)) {
        session.send({ type: 'elce.connected', originatorReplicaId: event.originatorReplicaId });
      }
    }
  }

  // ---- SessionDirectory: what sessions tell the registry ----

  supervise(actorId: string, session: Supervised): void {
    this.supervised.set(actorId, session);
  }

  acceptingConnections(): boolean {
    return this.state === 'running' && this.options.natsConnected() && this.sessions.size + this.httpConnections <= this.options.maxConnections;
  }

  clientAccepted(session: ClientSession, credentialIds: readonly string[]): void {
    this.directory.credentialsHeld(session, credentialIds);
  }

  clientEnded(session: ClientSession): void {
    this.sessions.delete(session.connectionId);
    this.directory.credentialsReleased(session, session.credentialIds);
  }

  clientForgotten(session: ClientSession): void {
    this.sessions.delete(session.connectionId);
    this.ended.add(describeSession(session), journalsOf(session), Date.now());
  }

  httpSessionForgotten(session: HttpSession): void {
    this.ended.add(describeHttpSession(session), httpJournalsOf(session), Date.now());
  }

  claimEndpoint(session: EndpointSession, endpointId: string): void {
    // Every other local session identified as this endpoint hears of the claim as it would of one
    // from another replica; the endpoint chart decides what it means (an active one is roamed).
    for (const other of this.directory.claim(session, endpointId)) {
      other.send({ type: 'elce.connected', originatorReplicaId: this.options.replicaId });
    }
  }

  releaseEndpoint(session: EndpointSession, endpointId: string | null): void {
    this.directory.release(session, endpointId);
  }

  endpointForgotten(session: EndpointSession): void {
    this.directory.forgetEndpoint(session, session.endpointId);
  }

  holds(session: EndpointSession): boolean {
    return this.directory.holds(session, session.endpointId);
  }

  // ---- the chart ----

  private logic() {
    return registryMachine.provide({
      actions: {
        announceReady: () => this.hooks.announceReady(),
        stopAccepting: () => this.hooks.stopAccepting(),
        endAllSessions: () => {
          // HTTP sessions hold no connection: nothing to pace, they all end at once.
          this.http.endAll();
          const drain = new PacedDrain<ClientSession>(this.options.drainPace ?? { ratePerSecond: 0, windowMs: 0 });
          const open = { has: (session: ClientSession) => this.sessions.has(session.connectionId), values: () => this.sessions.values() };
          this.sessionsStopping = drain.run(open, (session) => session.send({ type: 'service.stopping' }));
        },
        reportShutdownTimeout: () => this.hooks.shutdownTimedOut(),
        discardFailedActor: ({ event }) => {
          const { actorId, error } = reportOf<'session.failed'>(event);
          this.discardFailedActor(actorId, error);
        },
        forgetActor: ({ event }) => this.forgetActor(reportOf<'session.finished'>(event).actorId),
      },
      actors: {
        // What the sessions announce as they stop (9/ELCE disconnected) is flushed too.
        drainOutbound: fromPromise(async () => {
          await this.sessionsStopping;
          await this.hooks.drainOutbound();
        }),
      },
    });
  }

  private discardFailedActor(actorId: string, error: unknown): void {
    const failed = this.supervised.get(actorId);
    this.options.onActorFailed();
    this.options.logger.error({ err: error, actorId }, 'an action of a session threw; the session was discarded and the service goes on');
    if (failed === undefined) return;
    try {
      failed.discard(error);
    } catch (cleanupError) {
      this.options.logger.error({ err: cleanupError, actorId }, 'cleaning up a failed session failed too');
    }
    this.forgetActor(actorId);
  }

  /** Each session knows what its end means for the directory (Supervised.forgotten). */
  private forgetActor(actorId: string): void {
    const actor = this.supervised.get(actorId);
    if (actor === undefined) return;
    this.supervised.delete(actorId);
    actor.forgotten();
  }
}

/** The chart calls these actions only for the report named. */
function reportOf<T extends SessionReport['type']>(event: RegistryEvent): Extract<SessionReport, { type: T }> {
  return event as Extract<SessionReport, { type: T }>;
}
