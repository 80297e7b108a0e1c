// The live client session: one MQTT connection. The chart (src/machines/client-session.machine.ts)
// decides its lifecycle; this class carries the decisions out, holds its endpoint sessions by
// token, and runs the per-message hot path:
//
//   PUBLISH → routing table → (endpoint-aware) endpoint session for the token → ClientData on NATS
//
// Like its endpoint sessions, it is a stepped session (stepped-session.ts), not an xstate actor:
// one is held per connection for as long as the connection lasts.
import type { SnapshotFrom } from 'xstate';
import {
  clientSessionMachine, type ClientSessionContext, type ClientSessionEvent, type ClientSessionInput, type CredentialKind,
} from '../../machines/client-session.machine.js';
import { errorPayload, errorTopic } from '../traffic/responses.js';
import type {
  ClientAuthenticator, ClientCredentialVerdict, ConnectRequest, IncomingPublish, MqttConnection, MqttSession, PublishAck,
  RateLimitedLog, SubscriptionAnswer, ValidationOutcome,
} from '../ports.js';
import type { ClientDataForwarder, RoutedMessage } from '../traffic/client-data-forwarder.js';
import type { MqttReplyTarget } from '../traffic/extension-data-router.js';
import type { NamedEndpoint, RoutingTable } from '../traffic/routing.js';
import { credentialKey, type AuthenticationGate, type CredentialKey } from './authentication-gate.js';
import { EndpointSession, endEndpointSessions, type EndpointDirectory, type EndpointOwner, type EndpointSessionHub } from './endpoint-session.js';
import type { MeteredEndpoint } from '../traffic/traffic-meter.js';
import { SteppedSession, type SessionActions } from './stepped-session.js';

/** The registry's bookkeeping, as client sessions see it. */
export interface SessionDirectory extends EndpointDirectory {
  clientAccepted(session: ClientSession, credentialIds: readonly string[]): void;
  clientEnded(session: ClientSession): void;
  /** The session's actor has finished and is forgotten: keep what inspection shows of it. */
  clientForgotten(session: ClientSession): void;
  /** False while NATS is down or the connection limit is reached (CONNACK 3). */
  acceptingConnections(): boolean;
}

/** Everything a client session needs from the rest of the process (it hands its endpoint sessions the shared part). */
export interface SessionHub extends EndpointSessionHub {
  /** CONNECT credentials: 16/ECAP or 22/CAP, as configured. */
  readonly clientAuthentication: ClientAuthenticator;
  routing(): RoutingTable;
  readonly authentication: AuthenticationGate;
  /** Remembers requests by the client session's connection id, never by the session itself. */
  readonly forwarder: ClientDataForwarder<string>;
  readonly directory: SessionDirectory;
  readonly warnings: RateLimitedLog;
}

// Actions receive the context of the step being taken (this.context is updated first, but an
// action's context is the one at its point of the step), so everything they need comes from their arguments.
const actions: SessionActions<ClientSession, ClientSessionContext, ClientSessionEvent> = {
  requestAuthentication: (session, context) => session.requestAuthentication(context.awaiting),
  takeAuthenticationSlot: (session) => session.takeAuthenticationSlot(),
  releaseAuthenticationSlot: (session) => session.releaseAuthenticationSlot(),
  acceptConnection: (session, context) => session.accept(context),
  refuseConnection: (session, context, _, params: { returnCode: 3 | 4 | 5 }) => session.refuse(params.returnCode, context.endReason),
  closeConnection: (session, context) => session.connection.close(context.endReason ?? 'closed by KPC'),
  endEndpointSessions: (session, context) => session.endEndpointSessions(context),
  reportProviderFault: (session, context, event, params: { problem: string }) =>
    session.reportProviderFault(params.problem, event.type === 'ecap.replied' ? event.kind : undefined, context),
};

let nextConnectionNumber = 0;
/** Finished endpoint sessions kept per client session for inspection. */
const FINISHED_ENDPOINTS_KEPT = 16;

export class ClientSession
  extends SteppedSession<SnapshotFrom<typeof clientSessionMachine>, ClientSessionEvent>
  implements MqttSession, EndpointOwner, MqttReplyTarget {
  readonly connectionId: string;
  /** Endpoint sessions by application version, then token (a token is only unique per application). */
  private readonly endpoints = new Map<string, Map<string, EndpointSession>>();
  private endpointSerial = 0;
  private readonly finishedEndpoints: EndpointSession[] = [];
  private holdsAuthenticationSlot = false;
  private credentialKey: CredentialKey | undefined;
  /** Held only until the ECAP request is sent; never in the chart's context or journal. */
  private password: Buffer | null;

  constructor(
    readonly hub: SessionHub,
    readonly connection: MqttConnection,
    readonly request: ConnectRequest,
  ) {
    const connectionId = `c${++nextConnectionNumber}`;
    const id = `session.${connectionId}`;
    const input: ClientSessionInput = {
      connectionId,
      mqttClientId: request.mqttClientId,
      transport: request.transport,
      authenticationTimeoutMs: hub.settings.authenticationTimeoutMs,
    };
    super(hub, clientSessionMachine, id, input);
    this.connectionId = connectionId;
    this.password = request.password;
  }

  protected get actions(): typeof actions {
    return actions;
  }

  /** MQTT keeps a connection open: pushes reach the client. */
  readonly acceptsPushes = true;
  /** Replies go out as PUBLISHes on the request topic + `/status` or `/error`. */
  readonly replyVia = 'mqtt' as const;

  /** Starts the chart with the CONNECT that created this session. */
  start(): void {
    const { username, certificate, transport } = this.request;
    this.startChart();
    // Facts only: whether these credentials need validating, and what then, is the chart's decision.
    this.send({
      type: 'mqtt.connect',
      at: Date.now(),
      username,
      passwordPresent: this.password !== null,
      certificate: certificate === null ? 'none' : certificate.trusted ? 'trusted' : 'untrusted',
      anonymousAllowed: this.hub.settings.anonymousAllowed,
      serviceAvailable: this.hub.directory.acceptingConnections(),
      authenticationSlotFree: this.hub.authentication.hasFreeSlot(transport),
    });
  }

  get state(): string {
    return this.value as string;
  }

  get isActive(): boolean {
    return this.value === 'active';
  }

  get ownerId(): string {
    return this.request.mqttClientId;
  }

  get tenantId(): string | null {
    return this.context.tenantId;
  }

  get credentialIds(): readonly string[] {
    return this.context.credentialIds;
  }

  /** The endpoint sessions this client has now. */
  get endpointSessions(): EndpointSession[] {
    return [...this.endpoints.values()].flatMap((byToken) => [...byToken.values()]);
  }

  /** Its most recently finished endpoint sessions (revoked, expired, closed …), for inspection. */
  get finishedEndpointSessions(): readonly EndpointSession[] {
    return this.finishedEndpoints;
  }

  // ---- MqttSession: what the MQTT adapter calls ----

  publish(packet: IncomingPublish, ack: PublishAck): void {
    this.hub.counters.publishReceived(packet.qos);
    const route = this.hub.routing().resolve(packet.topic);
    if (!route.ok) {
      this.hub.counters.kpError(route.statusCode);
      this.hub.logger.debug({ connectionId: this.connectionId, statusCode: route.statusCode, reason: route.reasonPhrase }, 'publish refused');
      if (route.requestId !== null) this.connection.deliver(errorTopic(packet.topic), errorPayload(route.statusCode, route.reasonPhrase), packet.qos === 0 ? 0 : 1);
      ack(); // a bad publish is dropped and acknowledged, never a reason to disconnect
      return;
    }
    const message: RoutedMessage = { packet, route, ack };
    if (!route.endpointAware) this.forward(message, null);
    else this.endpointFor(route).receive(message);
  }

  /**
   * A SUBSCRIBE filter that names an endpoint token identifies that endpoint as a PUBLISH would:
   * its SUBACK waits for the endpoint session's decision. Any other filter under kp1/ is granted.
   */
  subscribe(filter: string, answer: SubscriptionAnswer): void {
    const named = this.hub.routing().endpointNamedBy(filter);
    if (named === null || !this.isActive) return answer(named === null);
    this.endpointFor(named).subscribed(answer);
  }

  disconnected(reason: string): void {
    this.send({ type: 'mqtt.disconnected', at: Date.now(), reason });
  }

  // ---- what endpoint sessions and the ExtensionData router call ----

  /** Sends a PUBLISH to this client if its session is still active; says whether it did. */
  deliver(topic: string, payload: Buffer, qos: 0 | 1): boolean {
    if (!this.isActive) return false;
    this.connection.deliver(topic, payload, qos);
    return true;
  }

  /**
   * Forwards a routed message to its extension instance; `endpointId` and the endpoint's meter null
   * for endpoint-unaware instances. False when it was refused (too many wait for NATS confirmation).
   */
  forward(message: RoutedMessage, endpointId: string | null, endpoint: MeteredEndpoint | null = null): boolean {
    return this.hub.forwarder.forward(this.connectionId, message, endpointId, endpoint);
  }

  /** A 1/KP error for one message (only when it has a request ID), then its acknowledgement. */
  answerError({ packet, route, ack }: RoutedMessage, statusCode: number, reasonPhrase: string): void {
    this.hub.counters.kpError(statusCode);
    if (route.requestId !== null) this.deliver(errorTopic(packet.topic), errorPayload(statusCode, reasonPhrase), packet.qos === 0 ? 0 : 1);
    ack();
  }

  endpointFinished(endpoint: EndpointSession): void {
    const byToken = this.endpoints.get(endpoint.appVersionName);
    if (byToken?.get(endpoint.token) === endpoint) byToken.delete(endpoint.token);
    this.finishedEndpoints.push(endpoint);
    if (this.finishedEndpoints.length > FINISHED_ENDPOINTS_KEPT) this.finishedEndpoints.shift();
  }

  // ---- the chart's actions ----

  /** Every presented credential is validated, in parallel; the chart waits for all of them. */
  requestAuthentication(awaiting: readonly CredentialKind[]): void {
    const credentials = this.hub.clientAuthentication;
    const { certificate, username } = this.request;
    if (awaiting.includes('certificate') && certificate !== null) {
      this.reportCredential('certificate', credentials.validateCertificate(certificate.issuer, certificate.serialNumber));
    }
    if (awaiting.includes('username-password')) {
      const password = this.password === null ? null : this.password.toString('utf8');
      this.credentialKey = credentialKey(username, password);
      const validation = this.hub.authentication.validate(this.credentialKey, () => credentials.validateUsernamePassword(username, password));
      this.reportCredential('username-password', validation);
    }
    this.password = null;
  }

  takeAuthenticationSlot(): void {
    this.hub.authentication.take(this.request.transport);
    this.holdsAuthenticationSlot = true;
  }

  releaseAuthenticationSlot(): void {
    if (!this.holdsAuthenticationSlot) return;
    this.holdsAuthenticationSlot = false;
    this.hub.authentication.release(this.request.transport);
  }

  private reportCredential(kind: CredentialKind, validation: Promise<ValidationOutcome<ClientCredentialVerdict>>): void {
    validation.then((outcome) =>
      this.send(
        outcome.ok
          ? { type: 'ecap.replied', kind, statusCode: outcome.reply.statusCode, clientId: outcome.reply.clientId, credentialId: outcome.reply.credentialId, tenantId: outcome.reply.tenantId }
          : { type: 'ecap.failed', kind, reason: outcome.reason },
      ),
    );
  }

  accept(context: ClientSessionContext): void {
    this.releaseAuthenticationSlot();
    this.connection.accept();
    this.hub.directory.clientAccepted(this, context.credentialIds);
    this.hub.counters.connection('accepted');
    this.logInfo('client connected', { event: 'connection.accepted' }, context);
  }

  refuse(returnCode: 3 | 4 | 5, reason: string | null): void {
    this.password = null;
    // Server unavailable (timeout, 5xx): the next attempt with these credentials asks afresh.
    if (returnCode === 3 && this.credentialKey !== undefined) this.hub.authentication.abandon(this.credentialKey);
    this.connection.refuse(returnCode);
    this.hub.counters.connection(`refused-${returnCode}`);
    this.logInfo('client refused', { event: 'connection.refused', returnCode, reason });
  }

  reportProviderFault(problem: string, kind: CredentialKind | undefined, context: ClientSessionContext): void {
    const { provider } = this.hub.clientAuthentication;
    this.hub.warnings.error('ecap.provider-fault', provider, this.logFields({ provider, credential: kind }, context),
      `credential provider '${provider}' ${problem}; refused with CONNACK 3`);
  }

  /** The session is over (closed or revoked): end every endpoint session, announce them gone. */
  endEndpointSessions(context: ClientSessionContext): void {
    const count = endEndpointSessions(this.hub, this.endpointSessions);
    this.hub.directory.clientEnded(this);
    const revoked = context.endReason === 'credential.revoked';
    this.logInfo('client session ended', { event: revoked ? 'connection.revoked' : 'connection.closed', reason: context.endReason, endpoints: count }, context);
  }

  // ---- supervision ----

  /** An action threw: the connection cannot be trusted to follow its chart any more. */
  discard(error: unknown): void {
    this.hub.logger.error({ ...this.logFields({ event: 'session.failed' }), err: error }, 'client session failed; closing its connection');
    this.releaseAuthenticationSlot(); // a failed session runs no exit actions
    // End it as any other session ends: endpoints announced disconnected, their charts finished.
    this.endEndpointSessions(this.context);
    this.connection.close('session failed');
  }

  forgotten(): void {
    this.hub.directory.clientForgotten(this);
    this.hub.counters.sessionEnded(this.state);
  }

  private endpointFor(route: NamedEndpoint): EndpointSession {
    let byToken = this.endpoints.get(route.appVersionName);
    if (byToken === undefined) {
      byToken = new Map();
      this.endpoints.set(route.appVersionName, byToken);
    }
    const existing = byToken.get(route.token);
    if (existing !== undefined && !existing.isFinished) return existing;

    const endpoint = new EndpointSession(
      this.hub, this, route.token, route.appName, route.appVersionName, `endpoint.${this.connectionId}.${++this.endpointSerial}`,
    );
    byToken.set(route.token, endpoint);
    endpoint.start();
    return endpoint;
  }

  /** Builds the fields only when info lines are written: a busy server runs at warn. */
  private logInfo(message: string, fields: Record<string, unknown>, context?: ClientSessionContext): void {
    if (this.hub.logger.isLevelEnabled('info')) this.hub.logger.info(this.logFields(fields, context), message);
  }

  private logFields(fields: Record<string, unknown>, context = this.context): Record<string, unknown> {
    return {
      ...fields,
      connectionId: this.connectionId,
      mqttClientId: this.request.mqttClientId,
      clientId: context.clientId,
      transport: this.request.transport,
      remoteAddress: this.connection.remoteAddress,
    };
  }
}
