// The live HTTP session: the owner of one endpoint session for a token used over 1/KP over HTTP.
// The chart (src/machines/http-session.machine.ts) decides when it ends; this class carries that out
// and is the endpoint session's EndpointOwner, as an MQTT client session is for MQTT:
//
//   HTTP request → routing table → HttpSessions → HttpSession → EndpointSession → ClientData on NATS
//
// Every request carries its own HttpExchange: the extension's reply goes to exactly that request
// (by correlationId, through the request memory), never to the session.
import type { SnapshotFrom } from 'xstate';
import { httpSessionMachine, type HttpSessionContext, type HttpSessionEvent, type HttpSessionInput } from '../../machines/http-session.machine.js';
import type { ClientDataForwarder, RoutedMessage } from '../traffic/client-data-forwarder.js';
import type { MeteredEndpoint } from '../traffic/traffic-meter.js';
import type { HttpReplyTarget } from '../traffic/extension-data-router.js';
import type { Route } from '../traffic/routing.js';
import { EndpointSession, endEndpointSessions, type EndpointDirectory, type EndpointOwner, type EndpointSessionHub } from './endpoint-session.js';
import { secretHash } from './secret-hash.js';
import { SteppedSession, type SessionActions } from './stepped-session.js';

/** One waiting HTTP request, as the core sees it (the HTTP adapter implements it). */
export interface HttpExchange extends HttpReplyTarget {
  /**
   * Unique in the process and unlike any MQTT connection id: the request memory keeps this id, not
   * the exchange, and the ExtensionData router finds the exchange by it while it waits.
   */
  readonly id: string;
  /** KPC's own 1/KP error as this request's answer. */
  answerError(statusCode: number, reasonPhrase: string): void;
  /** Runs once, when the request has its answer (any answer) or its client is gone. */
  whenAnswered(callback: () => void): void;
}

/** A routed 1/KP request that came over HTTP, with the exchange that answers it. */
export interface HttpRoutedMessage extends RoutedMessage {
  exchange: HttpExchange;
}

/** The registry's bookkeeping, as HTTP sessions see it. */
export interface HttpSessionDirectory extends EndpointDirectory {
  /** The session's actor has finished: keep what inspection shows of it. */
  httpSessionForgotten(session: HttpSession): void;
}

export interface HttpSessionHub extends EndpointSessionHub {
  readonly directory: HttpSessionDirectory;
  readonly forwarder: ClientDataForwarder<string>;
}

const actions: SessionActions<HttpSession, HttpSessionContext, HttpSessionEvent> = {
  endEndpointSession: (session) => void endEndpointSessions(session.hub, [session.endpoint]),
};

const exchangeOf = (message: RoutedMessage): HttpExchange => (message as HttpRoutedMessage).exchange;

let nextSessionNumber = 0;

export class HttpSession extends SteppedSession<SnapshotFrom<typeof httpSessionMachine>, HttpSessionEvent> implements EndpointOwner {
  /** `http-<n>`: how inspection names it (MQTT sessions are named by their client id). */
  readonly ownerId: string;
  readonly endpoint: EndpointSession;
  readonly openedAt = Date.now();
  /** 1/KP over HTTP is request/response only: an extension's push cannot reach the device. */
  readonly acceptsPushes = false;
  /** Basic credentials (if any) are checked per request; the session itself belongs to no client's tenant. */
  readonly tenantId = null;

  constructor(
    readonly hub: HttpSessionHub,
    route: Route,
    private readonly finished: (session: HttpSession) => void,
  ) {
    const ownerId = `http-${++nextSessionNumber}`;
    const id = `session.${ownerId}`;
    const input: HttpSessionInput = {
      sessionId: ownerId,
      appVersionName: route.appVersionName,
      tokenHash: secretHash(route.token),
      idleTimeoutMs: hub.settings.httpSessionIdleTimeoutMs,
    };
    super(hub, httpSessionMachine, id, input);
    this.ownerId = ownerId;
    this.endpoint = new EndpointSession(hub, this, route.token, route.appName, route.appVersionName, `endpoint.${ownerId}`);
  }

  protected get actions(): typeof actions {
    return actions;
  }

  /** Starts with the request that created the session (the chart counts it already). */
  start(first: HttpRoutedMessage): void {
    this.startChart();
    this.endpoint.start();
    this.handle(first);
  }

  /** A later request with the same token. */
  receive(message: HttpRoutedMessage): void {
    this.send({ type: 'http.requested' });
    this.handle(message);
  }

  get state(): string {
    return this.value as string;
  }

  get isOpen(): boolean {
    return !this.isFinished;
  }

  private handle(message: HttpRoutedMessage): void {
    message.exchange.whenAnswered(() => this.send({ type: 'http.answered' }));
    this.endpoint.receive(message);
  }

  // ---- EndpointOwner ----

  deliver(): boolean {
    return false; // never called: acceptsPushes is false, and replies go to each request's exchange
  }

  forward(message: RoutedMessage, endpointId: string, endpoint: MeteredEndpoint): boolean {
    return this.hub.forwarder.forward(exchangeOf(message).id, message, endpointId, endpoint);
  }

  answerError(message: RoutedMessage, statusCode: number, reasonPhrase: string): void {
    this.hub.counters.kpError(statusCode);
    exchangeOf(message).answerError(statusCode, reasonPhrase);
  }

  endpointFinished(): void {
    // Also called when this session ended it (idle timeout, shutdown): then send() ignores it.
    this.send({ type: 'endpoint.finished' });
  }

  // ---- supervision ----

  discard(): void {
    endEndpointSessions(this.hub, [this.endpoint]);
    this.finished(this);
  }

  forgotten(): void {
    this.hub.counters.sessionEnded(`http-${this.state}`);
    this.hub.directory.httpSessionForgotten(this);
    this.finished(this);
  }
}
