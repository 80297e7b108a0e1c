// The charts as test models: for each, the concrete events the model explores, how its
// states are serialized (by value, plus only what a guard reads), and which events the live
// wiring can produce in which state. Shared by the model tests and the coverage test, so that
// the coverage test measures exactly the paths the model tests drive.
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import { confirmedPublisherMachine } from '../../../src/machines/confirmed-publisher.machine.js';
import { clientSessionMachine, type ClientSessionInput } from '../../../src/machines/client-session.machine.js';
import { endpointSessionMachine, type EndpointSessionInput } from '../../../src/machines/endpoint-session.machine.js';
import { httpSessionMachine, type HttpSessionInput } from '../../../src/machines/http-session.machine.js';
import { registryMachine, type RegistryInput } from '../../../src/machines/registry.machine.js';
import { routingSourceMachine, type RoutingSourceInput } from '../../../src/machines/routing-source.machine.js';
import {
  APP_NAME, APP_VERSION, AUTHENTICATION_TIMEOUT_MS, ENDPOINT_ID, GRACEFUL_SHUTDOWN_MS, HTTP_IDLE_TIMEOUT_MS, MAX_HELD_MESSAGES,
  NEGATIVE_CACHE_MS, REPLICA_ID,
} from './harness.js';

export interface ModelSpec {
  name: string;
  machine: AnyStateMachine;
  input: unknown;
  /** Every concrete event the model may take; each has a readable label (see `label`). */
  events: readonly EventObject[];
  /** Vertices of the graph: the state value, plus only what a guard reads. Keeps graphs finite. */
  serializeState(snapshot: AnyMachineSnapshot): string;
  /** Whether the live system can produce this event in this state. */
  drivable(snapshot: AnyMachineSnapshot, event: EventObject): boolean;
  /**
   * Transitions (as the coverage test prints them) that no live stimulus can take, and why.
   * The coverage test fails if any other transition is missed, or if one of these gets covered.
   */
  notDrivable: Record<string, string>;
}

const labels = new WeakMap<EventObject, string>();

function named<E extends EventObject>(label: string, event: E): E {
  labels.set(event, label);
  return event;
}

export function label(event: EventObject): string {
  return labels.get(event) ?? event.type;
}

const valueOf = (snapshot: AnyMachineSnapshot): string =>
  typeof snapshot.value === 'string' ? snapshot.value : JSON.stringify(snapshot.value);

// ---- client session ----

/** The credential ECAP gives for the username/password; revocation events name it. */
export const PASSWORD_CREDENTIAL = 'credential-1';
export const CERTIFICATE_CREDENTIAL = 'credential-2';
export const CLIENT_ID = 'client-1';

const connect = (
  label: string,
  presented: { username: string | null; passwordPresent: boolean; certificate: 'none' | 'trusted' | 'untrusted' },
  anonymousAllowed = false,
  serviceAvailable = true,
  authenticationSlotFree = true,
) => named(label, { type: 'mqtt.connect' as const, at: 0, ...presented, anonymousAllowed, serviceAvailable, authenticationSlotFree });
const withPassword = { username: 'device-user', passwordPresent: true, certificate: 'none' } as const;
const anonymous = { username: null, passwordPresent: false, certificate: 'none' } as const;

export const clientSessionEvents = [
  connect('CONNECT with username/password', withPassword),
  connect('CONNECT with certificate and username/password', { ...withPassword, certificate: 'trusted' }),
  connect('CONNECT with an untrusted certificate', { ...anonymous, certificate: 'untrusted' }),
  connect('CONNECT anonymously (allowed)', anonymous, true),
  connect('CONNECT anonymously (not allowed)', anonymous, false),
  connect('CONNECT while NATS is down', withPassword, false, false),
  connect('CONNECT while every authentication slot is taken', withPassword, false, true, false),
  named('ECAP 200 for the password', { type: 'ecap.replied', kind: 'username-password', statusCode: 200, clientId: CLIENT_ID, credentialId: PASSWORD_CREDENTIAL, tenantId: null }),
  named('ECAP 200 for the certificate', { type: 'ecap.replied', kind: 'certificate', statusCode: 200, clientId: CLIENT_ID, credentialId: CERTIFICATE_CREDENTIAL, tenantId: null }),
  named('ECAP 200 without a credentialId', { type: 'ecap.replied', kind: 'username-password', statusCode: 200, clientId: CLIENT_ID, credentialId: null, tenantId: null }),
  named('ECAP 401 for the password', { type: 'ecap.replied', kind: 'username-password', statusCode: 401, clientId: null, credentialId: null, tenantId: null }),
  named('ECAP 503 for the password', { type: 'ecap.replied', kind: 'username-password', statusCode: 503, clientId: null, credentialId: null, tenantId: null }),
  named('ECAP request failed', { type: 'ecap.failed', kind: 'username-password', reason: 'nats-unavailable' }),
  named('authentication timeout', { type: 'xstate.after.authenticationTimeout.clientSession.authenticating' }),
  named('credential revoked', { type: 'credential.revoked', credentialId: PASSWORD_CREDENTIAL, tenantId: null }),
  named('client disconnected', { type: 'mqtt.disconnected', at: 0, reason: 'keepalive timeout' }),
  named('admin disconnect', { type: 'admin.disconnected', at: 0 }),
  named('service stopping', { type: 'service.stopping' }),
] as const;

export const clientSessionInput: ClientSessionInput = {
  connectionId: 'model', mqttClientId: 'device-1', transport: 'tcp', authenticationTimeoutMs: AUTHENTICATION_TIMEOUT_MS,
};

export const clientSessionModel: ModelSpec = {
  name: 'client session',
  machine: clientSessionMachine,
  input: clientSessionInput,
  events: clientSessionEvents,
  serializeState(snapshot) {
    const { awaiting, credentialIds } = snapshot.context as { awaiting: string[]; credentialIds: string[] };
    // `lastCredentialAccepted` reads what is still awaited; `holdsRevokedCredential` what is held.
    if (snapshot.value === 'authenticating') return `authenticating (awaiting ${[...awaiting].sort().join(' + ')})`;
    if (snapshot.value === 'active') return credentialIds.includes(PASSWORD_CREDENTIAL) ? `active (holding ${PASSWORD_CREDENTIAL})` : 'active (anonymous)';
    return valueOf(snapshot);
  },
  drivable(snapshot, event) {
    // The live session sends its CONNECT as it starts: nothing can come before it.
    if (snapshot.value === 'connecting') return event.type === 'mqtt.connect';
    // ECAP only answers what was asked.
    if (event.type === 'ecap.replied' || event.type === 'ecap.failed') {
      return (snapshot.context as { awaiting: string[] }).awaiting.includes((event as unknown as { kind: string }).kind);
    }
    return true;
  },
  notDrivable: {
    'connecting --mqtt.disconnected--> closed':
      'ClientSession.start() (src/actors/session/client-session.ts) sends mqtt.connect synchronously right after actor.start(), ' +
      'inside Registry.openSession(), and the MQTT adapter only gets the session (to report a disconnect) once openSession returns.',
  },
};

// ---- endpoint session ----

export const TOKEN_ID = 'token-id-1';
export const OTHER_REPLICA = 'replica-2';

export const endpointSessionEvents = [
  named('PUBLISH with the token', { type: 'kp.published', message: 'PUBLISH' }),
  named('SUBSCRIBE naming the token', { type: 'kp.subscribed', subscription: 'SUBSCRIBE' }),
  named('ECAP 200', { type: 'ecap.replied', statusCode: 200, endpointId: ENDPOINT_ID, tokenId: TOKEN_ID, reasonPhrase: null }),
  named('ECAP 200 without endpoint id', { type: 'ecap.replied', statusCode: 200, endpointId: null, tokenId: null, reasonPhrase: null }),
  named('ECAP 503', { type: 'ecap.replied', statusCode: 503, endpointId: null, tokenId: null, reasonPhrase: 'Provider overloaded' }),
  named('ECAP 403', { type: 'ecap.replied', statusCode: 403, endpointId: null, tokenId: null, reasonPhrase: 'Token not recognized' }),
  named('ECAP request failed', { type: 'ecap.failed', reason: 'nats-unavailable' }),
  named('identification timeout', { type: 'xstate.after.identificationTimeout.endpointSession.identifying' }),
  named('negative cache expiry', { type: 'xstate.after.negativeCache.endpointSession.rejected' }),
  named('ELCE connected from another replica', { type: 'elce.connected', originatorReplicaId: OTHER_REPLICA }),
  named('another local session takes the endpoint', { type: 'elce.connected', originatorReplicaId: REPLICA_ID }),
  named('token revoked', { type: 'token.revoked', tokenIds: [TOKEN_ID] }),
  named('client session ended', { type: 'session.ended' }),
] as const;

export const endpointSessionInput: EndpointSessionInput = {
  sessionId: 'model',
  appName: APP_NAME,
  appVersionName: APP_VERSION,
  tokenHash: 'model',
  identificationTimeoutMs: AUTHENTICATION_TIMEOUT_MS,
  negativeCacheMs: NEGATIVE_CACHE_MS,
  // A live endpoint session is born from a PUBLISH, which it holds at once (ClientSession.endpointFor
  // starts it, then hands it the message). The model starts just before that message: it has one
  // fewer to hold before the bound.
  maxHeldMessages: MAX_HELD_MESSAGES - 1,
};

export const endpointSessionModel: ModelSpec = {
  name: 'endpoint session',
  machine: endpointSessionMachine,
  input: endpointSessionInput,
  events: endpointSessionEvents,
  serializeState(snapshot) {
    // `holdingTooMany` reads how many messages wait.
    if (snapshot.value === 'identifying') return `identifying (holding ${(snapshot.context as { heldMessages: number }).heldMessages})`;
    return valueOf(snapshot);
  },
  drivable: () => true,
  notDrivable: {},
};

// ---- registry ----

/** The id xstate gives the drain actor invoked in `draining` (first invoke of registry.draining). */
const DRAIN = 'drainOutbound';

export const registryEvents = [
  named('NATS connected', { type: 'nats.connected' }),
  named('SIGTERM', { type: 'shutdown.requested', signal: 'SIGTERM' }),
  named('drain finished', { type: `xstate.done.actor.${DRAIN}` }),
  named('drain failed', { type: `xstate.error.actor.${DRAIN}`, error: 'NATS drain failed' }),
  named('graceful shutdown timeout', { type: 'xstate.after.gracefulShutdown.registry.draining' }),
  named('a session action threw', { type: 'session.failed', actorId: 'session.c1', error: 'a session action threw' }),
  named('a session finished', { type: 'session.finished', actorId: 'session.c1' }),
] as const;

export const registryInput: RegistryInput = { gracefulShutdownMs: GRACEFUL_SHUTDOWN_MS };

export const registryModel: ModelSpec = {
  name: 'registry',
  machine: registryMachine,
  input: registryInput,
  events: registryEvents,
  serializeState: valueOf,
  // The drain actor only exists while draining (elsewhere its events would match the wildcards).
  drivable: (snapshot, event) => !event.type.endsWith(DRAIN) || snapshot.value === 'draining',
  notDrivable: {},
};

// ---- HTTP session ----

/** Requests in flight the model explores at most (the chart only tells one from several). */
const MAX_MODELLED_IN_FLIGHT = 2;

export const httpSessionEvents = [
  named('another request with the token', { type: 'http.requested' }),
  named('a request answered', { type: 'http.answered' }),
  named('idle timeout', { type: 'xstate.after.idleTimeout.httpSession.idle' }),
  named('token revoked (endpoint session ends)', { type: 'endpoint.finished' }),
  named('service stopping', { type: 'service.stopping' }),
] as const;

export const httpSessionInput: HttpSessionInput = {
  sessionId: 'model', appVersionName: APP_VERSION, tokenHash: 'model', idleTimeoutMs: HTTP_IDLE_TIMEOUT_MS,
};

const inFlightOf = (snapshot: AnyMachineSnapshot): number => (snapshot.context as { inFlight: number }).inFlight;

export const httpSessionModel: ModelSpec = {
  name: 'HTTP session',
  machine: httpSessionMachine,
  input: httpSessionInput,
  events: httpSessionEvents,
  serializeState(snapshot) {
    // `lastRequestAnswered` reads how many requests wait.
    if (snapshot.value === 'busy') return `busy (${inFlightOf(snapshot)} in flight)`;
    return valueOf(snapshot);
  },
  drivable: (snapshot, event) => event.type !== 'http.requested' || inFlightOf(snapshot) < MAX_MODELLED_IN_FLIGHT,
  notDrivable: {},
};

// ---- Tekton routing source ----

/** kaa.tekton.timeout of the live source: long enough that a few start-up retries are never cut short. */
export const TEKTON_TIMEOUT_MS = 60_000;
export const SCMP_BROADCAST_SUBJECT = 'kaa.v1.events.tekton.service.configuration.upsert';

export const routingSourceEvents = [
  named('Tekton answers the first fetch', { type: 'xstate.done.actor.fetchFirstTree', output: {} }),
  named('the first fetch fails, time left', { type: 'xstate.error.actor.fetchFirstTree', error: { reason: 'refused', timeLeftMs: TEKTON_TIMEOUT_MS } }),
  named('the first fetch fails, kaa.tekton.timeout spent', { type: 'xstate.error.actor.fetchFirstTree', error: { reason: 'refused', timeLeftMs: 0 } }),
  named('start-up retry delay', { type: 'xstate.after.retry.routingSource.waitingForTekton' }),
  named('next turn after start()', { type: 'xstate.after.nextTurn.routingSource.handingOver' }),
  named('Tekton answers a re-fetch', { type: 'xstate.done.actor.fetchTree', output: {} }),
  named('a re-fetch fails', { type: 'xstate.error.actor.fetchTree', error: { message: 'HTTP 500' } }),
  named('re-fetch retry delay', { type: 'xstate.after.retry.routingSource.backingOff' }),
  named('17/SCMP event', { type: 'configuration.changed', trigger: SCMP_BROADCAST_SUBJECT }),
  named('NATS reconnected', { type: 'configuration.changed', trigger: 'NATS reconnected' }),
  named('stop', { type: 'stop' }),
] as const;

export const routingSourceInput: RoutingSourceInput = {
  timeoutMs: TEKTON_TIMEOUT_MS, backoff: { initialMs: 1_000, maxMs: 60_000 }, random: () => 1,
};

export const routingSourceModel: ModelSpec = {
  name: 'Tekton routing source',
  machine: routingSourceMachine,
  input: routingSourceInput,
  events: routingSourceEvents,
  serializeState(snapshot) {
    // `refetchQueued` reads whether an event came while fetching (or before the hand-over).
    return (snapshot.context as { refetchQueued: boolean }).refetchQueued ? `${valueOf(snapshot)} (re-fetch queued)` : valueOf(snapshot);
  },
  drivable: () => true,
  notDrivable: {},
};

// ---- confirmed publisher ----

export const confirmedPublisherEvents = [
  named('a QoS 1 message goes out', { type: 'batch.sent' }),
  named('flush confirmed, nothing left', { type: 'flush.confirmed', sentSinceFlush: 0, leftUnconfirmed: 0 }),
  named('flush confirmed, another message sent meanwhile', { type: 'flush.confirmed', sentSinceFlush: 1, leftUnconfirmed: 1 }),
  named('flush confirmed, a message parked meanwhile', { type: 'flush.confirmed', sentSinceFlush: 0, leftUnconfirmed: 1 }),
  named('flush failed, still connected', { type: 'flush.failed', connected: true }),
  named('flush failed, connection closed', { type: 'flush.failed', connected: false }),
  named('NATS disconnected', { type: 'nats.disconnected' }),
  named('NATS reconnected', { type: 'nats.reconnected' }),
] as const;

export const confirmedPublisherModel: ModelSpec = {
  name: 'confirmed publisher',
  machine: confirmedPublisherMachine,
  input: undefined,
  events: confirmedPublisherEvents,
  serializeState: valueOf,
  drivable(snapshot, event) {
    const connected = snapshot.value === 'idle' || snapshot.value === 'flushing';
    // While disconnected nothing is sent (it is parked), and the client says it is not connected.
    if (event.type === 'flush.confirmed') return connected || (event as unknown as { sentSinceFlush: number }).sentSinceFlush === 0;
    if (event.type === 'flush.failed') return connected || !(event as unknown as { connected: boolean }).connected;
    return true;
  },
  notDrivable: {},
};

export const allModels: readonly ModelSpec[] = [
  clientSessionModel, endpointSessionModel, registryModel, httpSessionModel, routingSourceModel, confirmedPublisherModel,
];
