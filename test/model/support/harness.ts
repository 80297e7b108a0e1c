// The live actor system of KPC (a real Registry, real ClientSessions and EndpointSessions, the real
// routing table and authentication gate) with test doubles at the ports only:
//
//   MQTT connection → RecordingConnection     16/ECAP → ScriptedCredentials (the test answers)
//   4/ESP ClientData → RecordingForwarder     9/ELCE  → RecordingAnnouncer
//   timers          → xstate's SimulatedClock (the Registry's `clock` option)
//   registry hooks  → counters, and a drain promise the test settles
//
// Model tests drive this system with real-world stimuli and assert on what these doubles saw.
import pino from 'pino';
import { SimulatedClock } from 'xstate';
import { AuthenticationGate } from '../../../src/actors/session/authentication-gate.js';
import type { ClientDataForwarder, RoutedMessage } from '../../../src/actors/traffic/client-data-forwarder.js';
import type { ClientSession } from '../../../src/actors/session/client-session.js';
import type { HttpExchange } from '../../../src/actors/session/http-session.js';
import { Journal } from '../../../src/actors/session/journal.js';
import type {
  ClientAuthenticator, ClientCredentialVerdict, ConnectivityAnnouncer, MqttConnection, PresentedCertificate, TokenValidator,
  TokenVerdict, ValidationOutcome,
} from '../../../src/actors/ports.js';
import { Registry } from '../../../src/actors/registry/registry.js';
import type { SessionHub } from '../../../src/actors/session/client-session.js';
import type { SessionSettings } from '../../../src/actors/session/session-hub.js';
import { RoutingTable } from '../../../src/actors/traffic/routing.js';
import { TrafficMeter } from '../../../src/actors/traffic/traffic-meter.js';

// ---- the configuration the live system runs with (the models' inputs mirror it) ----

export const REPLICA_ID = 'replica-1';
export const AUTHENTICATION_TIMEOUT_MS = 1_000;
export const NEGATIVE_CACHE_MS = 5_000;
export const GRACEFUL_SHUTDOWN_MS = 3_000;
export const MAX_HELD_MESSAGES = 2;
export const HTTP_IDLE_TIMEOUT_MS = 60_000;

/** Application `app`, version `v1`, one endpoint-aware extension instance `dcx`. */
export const APP_NAME = 'app';
export const APP_VERSION = 'v1';
export const TOKEN = 'device-token';
export const ENDPOINT_ID = 'endpoint-1';
/** A request ID on every topic, so that every 1/KP error is published back on `<topic>/error`. */
export const tokenTopic = (requestId: number, token = TOKEN): string => `kp1/${APP_VERSION}/dcx/${token}/data/${requestId}`;
export const pushTopic = `kp1/${APP_VERSION}/dcx/${TOKEN}/command`;
/** What Kaa's command clients subscribe to: the token, then a wildcard for `/status` and `/error`. */
export const commandFilter = (type: number): string => `kp1/${APP_VERSION}/dcx/${TOKEN}/command/type-${type}/+`;

export const USERNAME = 'device-user';
export const PASSWORD = 'device-secret';
export const CERTIFICATE: PresentedCertificate = { issuer: 'CN=Device CA', serialNumber: '0A1B', trusted: true };

/** Lets promise callbacks (ECAP answers, the drain) reach the actors. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---- the MQTT connection ----

export class RecordingConnection implements MqttConnection {
  readonly remoteAddress = '192.0.2.1';
  readonly connacks: number[] = [];
  readonly deliveries: Array<{ topic: string; payload: string; qos: 0 | 1 }> = [];
  readonly closes: string[] = [];

  /** `failing`: accept() and refuse() throw, standing for a bug in a session action. */
  constructor(readonly name: string, private readonly failing = false) {}

  accept(): void {
    if (this.failing) throw new Error(`${this.name}: a session action threw`);
    this.connacks.push(0);
  }

  refuse(returnCode: 3 | 4 | 5): void {
    if (this.failing) throw new Error(`${this.name}: a session action threw`);
    this.connacks.push(returnCode);
  }

  deliver(topic: string, payload: Buffer, qos: 0 | 1): void {
    this.deliveries.push({ topic, payload: payload.toString('utf8'), qos });
  }

  close(reason: string): void {
    this.closes.push(reason);
  }

  /** The 1/KP errors published back for a request topic. */
  errorsFor(topic: string): Array<{ statusCode: number; reasonPhrase: string }> {
    return this.deliveries.filter((d) => d.topic === `${topic}/error`).map((d) => JSON.parse(d.payload));
  }

  deliveredTo(topic: string): number {
    return this.deliveries.filter((d) => d.topic === topic).length;
  }
}

// ---- one HTTP request of 1/KP over HTTP ----

let nextExchange = 0;

export class RecordingExchange implements HttpExchange {
  readonly replyVia = 'http' as const;
  readonly id = `h-model-${++nextExchange}`;
  /** Its answer: the extension's status code, or KPC's `statusCode reasonPhrase`. */
  answer: string | undefined;
  private readonly callbacks: Array<() => void> = [];

  constructor(readonly topic: string) {}

  get isActive(): boolean {
    return this.answer === undefined;
  }

  reply(data: { statusCode: number }): number {
    this.finish(String(data.statusCode));
    return 0;
  }

  answerError(statusCode: number, reasonPhrase: string): void {
    this.finish(`${statusCode} ${reasonPhrase}`);
  }

  whenAnswered(callback: () => void): void {
    if (this.isActive) this.callbacks.push(callback);
    else callback();
  }

  private finish(answer: string): void {
    if (!this.isActive) return;
    this.answer = answer;
    for (const callback of this.callbacks.splice(0)) callback();
  }
}

// ---- 16/ECAP: every validation waits until the test answers it ----

export type ValidationKind = 'username-password' | 'certificate' | 'token';

interface PendingValidation {
  kind: ValidationKind;
  /** What was asked: [username, password], [issuer, serial] or [appName, token]. */
  asked: [string | null, string | null];
  answered: boolean;
  resolve(outcome: ValidationOutcome<never>): void;
}

export class ScriptedCredentials implements ClientAuthenticator, TokenValidator {
  readonly provider = 'cm';
  /** Provider faults KPC reported (rate-limited error log lines). */
  readonly faults: string[] = [];
  readonly requests: PendingValidation[] = [];

  validateUsernamePassword(username: string | null, password: string | null): Promise<ValidationOutcome<ClientCredentialVerdict>> {
    return this.ask('username-password', [username, password]);
  }

  validateCertificate(issuer: string, serialNumber: string): Promise<ValidationOutcome<ClientCredentialVerdict>> {
    return this.ask('certificate', [issuer, serialNumber]);
  }

  validateToken(appName: string, token: string): Promise<ValidationOutcome<TokenVerdict>> {
    return this.ask('token', [appName, token]);
  }

  pending(kind: ValidationKind): PendingValidation[] {
    return this.requests.filter((request) => request.kind === kind && !request.answered);
  }

  asked(kind: ValidationKind): PendingValidation[] {
    return this.requests.filter((request) => request.kind === kind);
  }

  /** Answers the oldest unanswered validation of this kind; throws when none waits. */
  answer(kind: ValidationKind, outcome: ValidationOutcome<ClientCredentialVerdict> | ValidationOutcome<TokenVerdict>): void {
    const request = this.pending(kind)[0];
    if (request === undefined) throw new Error(`no ${kind} validation is waiting for an answer`);
    request.answered = true;
    request.resolve(outcome as ValidationOutcome<never>);
  }

  private ask<T>(kind: ValidationKind, asked: [string | null, string | null]): Promise<ValidationOutcome<T>> {
    return new Promise((resolve) => this.requests.push({ kind, asked, answered: false, resolve: resolve as PendingValidation['resolve'] }));
  }
}

export function credentialReply(statusCode: number, clientId: string | null, credentialId: string | null): ValidationOutcome<ClientCredentialVerdict> {
  return { ok: true, reply: { statusCode, clientId, credentialId, reasonPhrase: null, tenantId: null } };
}

export function tokenReply(
  statusCode: number, endpointId: string | null, tokenId: string | null, reasonPhrase: string | null,
): ValidationOutcome<TokenVerdict> {
  return { ok: true, reply: { statusCode, endpointId, tokenId, reasonPhrase } };
}

export const ecapFailure = (reason: 'nats-unavailable' | 'timeout'): ValidationOutcome<never> => ({ ok: false, reason });

// ---- 4/ESP ClientData and 9/ELCE ----

export class RecordingForwarder {
  readonly forwarded: Array<{ topic: string; endpointId: string | null; mqttClientId: string }> = [];

  /** Sessions reach the forwarder by connection id; `sessionOf` tells which client that is. */
  constructor(private readonly sessionOf: (connectionId: string) => ClientSession | undefined) {}

  forward(connectionId: string, message: RoutedMessage, endpointId: string | null): boolean {
    // HTTP requests (ids `h…`, see NodeHttpExchange) are recorded as client `http`.
    const http = connectionId.startsWith('h');
    const mqttClientId = http ? 'http' : this.sessionOf(connectionId)?.request.mqttClientId ?? `unknown connection ${connectionId}`;
    this.forwarded.push({ topic: message.packet.topic, endpointId, mqttClientId });
    message.ack(); // NATS confirmed it: the PUBLISH is acknowledged
    return true;
  }

  of(mqttClientId: string): string[] {
    return this.forwarded.filter((f) => f.mqttClientId === mqttClientId).map((f) => f.topic);
  }
}

export interface Announcement {
  kind: 'connected' | 'disconnected';
  endpoints: Record<string, string>;
  /** Which stimulus was in progress: lets a test tell its subject's announcements from others'. */
  during: string;
}

export class RecordingAnnouncer implements ConnectivityAnnouncer {
  readonly announcements: Announcement[] = [];
  during = 'subject';

  announceConnected(endpoints: Record<string, string>): void {
    this.announcements.push({ kind: 'connected', endpoints, during: this.during });
  }

  announceDisconnected(endpoints: Record<string, string>): void {
    this.announcements.push({ kind: 'disconnected', endpoints, during: this.during });
  }

  of(kind: Announcement['kind'], during = 'subject'): Array<Record<string, string>> {
    return this.announcements.filter((a) => a.kind === kind && a.during === during).map((a) => a.endpoints);
  }
}

// ---- the registry's hooks ----

export interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

export class RecordingHooks {
  ready = 0;
  stoppedAccepting = 0;
  timedOut = 0;
  /** One per drainOutbound() call; the test resolves or rejects it. */
  readonly drains: Deferred[] = [];
}

// ---- the whole system ----

export interface HarnessOptions {
  anonymousAllowed?: boolean;
  /** What the registry's NATS probe answers (false: CONNACK 3 for every new client). */
  natsConnected?: boolean;
  /** Sends `nats.connected` right away, as src/main.ts does once its listeners are up. */
  running?: boolean;
  /** Credential validations allowed in flight per transport (`max-in-flight`); 0: every CONNECT with credentials finds them all taken. */
  authenticationSlots?: number;
}

export interface Client {
  connection: RecordingConnection;
  session: ClientSession;
  mqttClientId: string;
}

export interface PublishedMessage {
  topic: string;
  acks: number;
}

export interface SubscribedFilter {
  filter: string;
  subacks: Array<'granted' | 'refused'>;
}

export class Harness {
  readonly clock = new SimulatedClock();
  readonly settings: SessionSettings;
  readonly credentials = new ScriptedCredentials();
  readonly forwarder = new RecordingForwarder((connectionId) => this.registry.liveSessionByConnection(connectionId));
  readonly announcer = new RecordingAnnouncer();
  readonly hooks = new RecordingHooks();
  /** One entry per onActorFailed() call. */
  readonly failures: number[] = [];
  natsUp: boolean;
  readonly registry: Registry;

  constructor(options: HarnessOptions = {}) {
    this.natsUp = options.natsConnected ?? true;
    this.settings = {
      anonymousAllowed: options.anonymousAllowed ?? false,
      authenticationTimeoutMs: AUTHENTICATION_TIMEOUT_MS,
      negativeCacheMs: NEGATIVE_CACHE_MS,
      maxHeldMessages: MAX_HELD_MESSAGES,
      httpSessionIdleTimeoutMs: HTTP_IDLE_TIMEOUT_MS,
    };
    const logger = pino({ level: 'silent' });
    const hub: Omit<SessionHub, 'directory'> = {
      settings: this.settings,
      replicaId: REPLICA_ID,
      routing: () => routing,
      traffic: new TrafficMeter(false, () => 'default'),
      clientAuthentication: this.credentials,
      tokens: this.credentials,
      authentication: new AuthenticationGate(options.authenticationSlots ?? 100, NEGATIVE_CACHE_MS),
      forwarder: this.forwarder as unknown as ClientDataForwarder<string>,
      connectivity: this.announcer,
      counters: { publishReceived: () => {}, kpError: () => {}, connection: () => {}, sessionEnded: () => {}, roamed: () => {} },
      logger,
      warnings: { error: (_kind, _source, _fields, message) => this.credentials.faults.push(message) },
      newJournal: (machine, actorId) => new Journal(64, machine, actorId),
    };
    this.registry = new Registry(
      hub,
      {
        replicaId: REPLICA_ID,
        gracefulShutdownMs: GRACEFUL_SHUTDOWN_MS,
        maxConnections: 100,
        natsConnected: () => this.natsUp,
        logger,
        onActorFailed: () => this.failures.push(1),
        retainEnded: { count: 100, forMs: 3_600_000 },
        clock: this.clock,
      },
      {
        announceReady: () => void this.hooks.ready++,
        stopAccepting: () => void this.hooks.stoppedAccepting++,
        drainOutbound: () => {
          const drain = deferred();
          this.hooks.drains.push(drain);
          return drain.promise;
        },
        shutdownTimedOut: () => void this.hooks.timedOut++,
      },
    );
    this.registry.start();
    if (options.running ?? true) this.registry.actor.send({ type: 'nats.connected' });
  }

  /** A CONNECT, as the MQTT adapter reports it. */
  connect(
    mqttClientId: string,
    credentials: { username?: string; password?: string; certificate?: PresentedCertificate } = {},
    connection = new RecordingConnection(mqttClientId),
  ): Client {
    const session = this.registry.openSession(connection, {
      mqttClientId,
      transport: credentials.certificate === undefined ? 'tcp' : 'tls',
      username: credentials.username ?? null,
      password: credentials.password === undefined ? null : Buffer.from(credentials.password),
      certificate: credentials.certificate ?? null,
    }) as ClientSession; // openSession returns the live ClientSession behind the MqttSession port
    return { connection, session, mqttClientId };
  }

  /** A POST of 1/KP over HTTP, as the HTTP adapter hands it to the registry's HTTP sessions. */
  httpRequest(topic: string): RecordingExchange {
    const route = routing.resolve(topic);
    if (!route.ok) throw new Error(`${topic}: ${route.reasonPhrase}`);
    const exchange = new RecordingExchange(topic);
    this.registry.http.request({ packet: { topic, payload: Buffer.from('{"t":21}'), qos: 1 }, route, ack: () => {}, exchange });
    return exchange;
  }

  /** A SUBSCRIBE filter from a client; the returned record holds its SUBACK once given. */
  subscribe(client: Client, filter: string): SubscribedFilter {
    const subscription: SubscribedFilter = { filter, subacks: [] };
    client.session.subscribe(filter, (granted) => void subscription.subacks.push(granted ? 'granted' : 'refused'));
    return subscription;
  }

  /** A QoS 1 PUBLISH from a client; the returned record counts its acknowledgements. */
  publish(client: Client, topic: string): PublishedMessage {
    const message: PublishedMessage = { topic, acks: 0 };
    client.session.publish({ topic, payload: Buffer.from('{"t":21}'), qos: 1 }, () => void message.acks++);
    return message;
  }
}

const routing = new RoutingTable(
  {
    applications: { [APP_NAME]: { versions: { [APP_VERSION]: { allowedExtensionInstances: ['dcx'] } } } },
    extensionInstances: { dcx: { endpointAware: true } },
  },
  (instance) => `kaa.v1.service.${instance}.client-data`,
);
