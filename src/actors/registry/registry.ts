// The live registry: supervisor of every session actor (their parent), and the process's answer
// to "which session holds endpoint X / credential Y". Its lifecycle chart is
// src/machines/registry.machine.ts; the lookups are plain maps here, because holding thousands of
// children in a machine snapshot does not scale (a snapshot is copied on every transition, and a replica
// holds up to `max-connections` sessions).
import { createActor, fromPromise, type Actor, type AnyActorRef, type InspectionEvent } from 'xstate';
import type { Logger } from 'pino';
import { registryMachine } from '../../machines/registry.machine.js';
import { ClientSession, type SessionDirectory, type SessionHub } from '../session/client-session.js';
import { EndedSessions } from './ended-sessions.js';
import { EndpointSession } from '../session/endpoint-session.js';
import { HttpSession } from '../session/http-session.js';
import { HttpSessions } from '../session/http-sessions.js';
import { Journal } from '../session/journal.js';
import type { Supervised } from '../session/session-hub.js';
import type { ConnectRequest, EndpointsConnected, MqttConnection, MqttSession } from '../ports.js';
import {
  describeEndpoint, describeHttpSession, describeSession, summarizeSession, summaryOf, type SessionDetails, type SessionSummary,
} from './session-inspection.js';

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
  /** Timers of every session chart (`after` delays); tests pass xstate's SimulatedClock. */
  clock?: { setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown; clearTimeout(id: unknown): void };
}


export class Registry implements SessionDirectory {
  readonly actor: Actor<ReturnType<Registry['logic']>>;
  readonly hub: SessionHub;
  /** Sessions of 1/KP over HTTP, by token: they hold endpoints without a connection. */
  readonly http: HttpSessions;
  private readonly supervised = new Map<string, Supervised>();
  private readonly sessions = new Set<ClientSession>();
  /** endpointId → the endpoint session that receives its pushes. */
  private readonly holders = new Map<string, EndpointSession>();
  /** endpointId → every local endpoint session identified as it (active or roamed), for revocation. */
  private readonly identified = new Map<string, Set<EndpointSession>>();
  private readonly credentialHolders = new Map<string, Set<ClientSession>>();
  private readonly ended: EndedSessions;
  /** Open HTTP connections: they count towards `max-connections` with the MQTT sessions. */
  private httpConnections = 0;

  constructor(
    hub: Omit<SessionHub, 'directory'>,
    private readonly options: RegistryOptions,
    private readonly hooks: RegistryHooks,
  ) {
    this.hub = { ...hub, directory: this };
    this.http = new HttpSessions(this.hub);
    this.ended = new EndedSessions(options.retainEnded.count, options.retainEnded.forMs);
    this.actor = createActor(this.logic(), {
      id: 'registry',
      input: { gracefulShutdownMs: options.gracefulShutdownMs },
      inspect: (event) => this.journal(event),
      // xstate treats `clock: undefined` as a clock: pass the option only when there is one.
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
  }

  get supervisor(): AnyActorRef {
    return this.actor;
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
    this.sessions.add(session);
    session.start();
    return session;
  }

  holderOf(endpointId: string): EndpointSession | undefined {
    return this.holders.get(endpointId);
  }

  /** endpointId → appVersionName of every endpoint whose pushes this replica receives. */
  heldEndpoints(): Record<string, string> {
    const held: Record<string, string> = {};
    for (const [endpointId, session] of this.holders) held[endpointId] = session.appVersionName;
    return held;
  }

  // ---- cluster events (16/ECAP revocation, 9/ELCE) ----

  credentialRevoked(credentialId: string): number {
    const holders = [...(this.credentialHolders.get(credentialId) ?? [])];
    for (const session of holders) session.send({ type: 'credential.revoked', credentialId });
    return holders.length;
  }

  tokenRevoked(endpointId: string, tokenIds: string[]): number {
    const sessions = [...(this.identified.get(endpointId) ?? [])];
    for (const session of sessions) session.send({ type: 'token.revoked', tokenIds });
    return sessions.length;
  }

  /** Another replica announced endpoints connected: local holders of them are roamed. */
  endpointsConnected(event: EndpointsConnected): void {
    if (event.originatorReplicaId === this.options.replicaId) return; // local claims were handled in claimEndpoint
    for (const endpointId of Object.keys(event.endpoints)) {
      const holder = this.holders.get(endpointId);
      if (holder === undefined) continue;
      this.holders.delete(endpointId);
      holder.send({ type: 'elce.connected', originatorReplicaId: event.originatorReplicaId });
      this.hub.counters.roamed();
    }
  }

  // ---- inspection (management API) ----

  inspectSessions(): { live: SessionSummary[]; ended: SessionSummary[] } {
    return {
      live: [...[...this.sessions].map(summarizeSession), ...this.http.list().map((session) => summaryOf(describeHttpSession(session)))],
      ended: this.ended.list(Date.now()).map(summaryOf),
    };
  }

  /** The live session with this MQTT client id (or HTTP session id, `http-…`), else the most recent ended one. */
  inspectSession(mqttClientId: string): SessionDetails | undefined {
    const live = this.liveSession(mqttClientId);
    if (live !== undefined) return describeSession(live);
    const http = this.http.list().find((session) => session.ownerId === mqttClientId);
    return http !== undefined ? describeHttpSession(http) : this.ended.find(mqttClientId, Date.now());
  }

  inspectEndpoint(endpointId: string) {
    const holder = this.holders.get(endpointId);
    return {
      endpointId,
      heldHere: holder !== undefined,
      replicaId: holder === undefined ? null : this.options.replicaId,
      sessions: [...(this.identified.get(endpointId) ?? [])].map((endpoint) => ({
        mqttClientId: endpoint.owner.ownerId,
        ...describeEndpoint(endpoint),
      })),
    };
  }

  /** Disconnects a client on an operator's request; false when no such live session. */
  disconnectByAdmin(mqttClientId: string): boolean {
    const session = this.liveSession(mqttClientId);
    if (session === undefined || !session.isActive) return false;
    session.send({ type: 'admin.disconnected', at: Date.now() });
    return true;
  }

  private liveSession(mqttClientId: string): ClientSession | undefined {
    for (const session of this.sessions) if (session.request.mqttClientId === mqttClientId) return session;
    return undefined;
  }

  shutdown(signal: string): void {
    this.actor.send({ type: 'shutdown.requested', signal });
  }

  // ---- SessionDirectory ----

  supervise(actorId: string, session: Supervised): void {
    this.supervised.set(actorId, session);
  }

  acceptingConnections(): boolean {
    return this.state === 'running' && this.options.natsConnected() && this.sessions.size + this.httpConnections <= this.options.maxConnections;
  }

  clientAccepted(session: ClientSession, credentialIds: readonly string[]): void {
    for (const credentialId of credentialIds) {
      let holders = this.credentialHolders.get(credentialId);
      if (holders === undefined) this.credentialHolders.set(credentialId, (holders = new Set()));
      holders.add(session);
    }
  }

  clientEnded(session: ClientSession): void {
    this.sessions.delete(session);
    for (const credentialId of session.credentialIds) {
      const holders = this.credentialHolders.get(credentialId);
      holders?.delete(session);
      if (holders?.size === 0) this.credentialHolders.delete(credentialId);
    }
  }

  claimEndpoint(session: EndpointSession, endpointId: string): void {
    const previous = this.holders.get(endpointId);
    this.holders.set(endpointId, session);
    let sessions = this.identified.get(endpointId);
    if (sessions === undefined) this.identified.set(endpointId, (sessions = new Set()));
    sessions.add(session);
    if (previous !== undefined && previous !== session) {
      // A second session on this replica taking the endpoint roams the first, as a claim from another
      // replica would: an endpoint's pushes go to exactly one session.
      previous.send({ type: 'elce.connected', originatorReplicaId: this.options.replicaId });
      this.hub.counters.roamed();
    }
  }

  releaseEndpoint(session: EndpointSession, endpointId: string | null): void {
    if (endpointId !== null && this.holders.get(endpointId) === session) this.holders.delete(endpointId);
  }

  holds(session: EndpointSession): boolean {
    return session.endpointId !== null && this.holders.get(session.endpointId) === session;
  }

  // ---- the chart ----

  private logic() {
    return registryMachine.provide({
      actions: {
        announceReady: () => this.hooks.announceReady(),
        stopAccepting: () => this.hooks.stopAccepting(),
        endAllSessions: () => {
          for (const session of [...this.sessions]) session.send({ type: 'service.stopping' });
          this.http.endAll();
        },
        reportShutdownTimeout: () => this.hooks.shutdownTimedOut(),
        discardFailedActor: ({ event }) => this.discardFailedActor(actorIdOf(event.type), (event as { error?: unknown }).error),
        forgetActor: ({ event }) => this.forgetActor(actorIdOf(event.type)),
      },
      actors: {
        drainOutbound: fromPromise(() => this.hooks.drainOutbound()),
      },
    });
  }

  private discardFailedActor(actorId: string, error: unknown): void {
    const failed = this.supervised.get(actorId);
    this.options.onActorFailed();
    this.options.logger.error({ err: error, actorId }, 'session actor failed and was discarded; the service goes on');
    if (failed === undefined) return;
    try {
      failed.discard(error);
    } catch (cleanupError) {
      this.options.logger.error({ err: cleanupError, actorId }, 'cleaning up a failed session actor failed too');
    }
    this.forgetActor(actorId);
  }

  private forgetActor(actorId: string): void {
    const actor = this.supervised.get(actorId);
    if (actor === undefined) return;
    this.supervised.delete(actorId);
    if (actor instanceof ClientSession) {
      this.sessions.delete(actor);
      this.ended.add(describeSession(actor), Date.now());
    }
    if (actor instanceof HttpSession) this.ended.add(describeHttpSession(actor), Date.now());
    if (actor instanceof EndpointSession) this.forgetEndpoint(actor);
    actor.forgotten();
  }

  private forgetEndpoint(session: EndpointSession): void {
    const endpointId = session.endpointId;
    this.releaseEndpoint(session, endpointId);
    if (endpointId === null) return;
    const sessions = this.identified.get(endpointId);
    sessions?.delete(session);
    if (sessions?.size === 0) this.identified.delete(endpointId);
  }

  /** Every session actor's snapshots, recorded in its own journal (see journal.ts). */
  private journal(inspection: InspectionEvent): void {
    if (inspection.type !== '@xstate.snapshot') return;
    const actor = inspection.actorRef as AnyActorRef;
    const owner = ClientSession.of(actor) ?? EndpointSession.of(actor) ?? HttpSession.of(actor);
    owner?.journal.record(Date.now(), inspection.event, (inspection.snapshot as { value?: unknown }).value);
  }
}

function actorIdOf(eventType: string): string {
  // xstate.done.actor.<id> / xstate.error.actor.<id>
  return eventType.slice(eventType.indexOf('.actor.') + '.actor.'.length);
}
