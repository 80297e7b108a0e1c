// The HTTP sessions of this replica, by application version and endpoint token: the identification
// cache of 1/KP over HTTP. The first request with a token opens a session (one 16/ECAP request, which
// concurrent first requests share: they wait in its endpoint session); later requests reuse it until
// it ends (see src/machines/http-session.machine.ts).
import type { RoutedMessage } from '../traffic/client-data-forwarder.js';
import { HttpSession, type HttpExchange, type HttpRoutedMessage, type HttpSessionHub } from './http-session.js';

export class HttpSessions {
  /** appVersionName → token → session (a token is only unique per application). */
  private readonly byToken = new Map<string, Map<string, HttpSession>>();
  /** Open sessions, including one replaced in `byToken` that has not been forgotten yet. */
  private readonly open = new Set<HttpSession>();
  /** Requests waiting for their answers, by id: where the ExtensionData router sends a reply. */
  private readonly waiting = new Map<string, HttpExchange>();

  constructor(private readonly hub: HttpSessionHub) {}

  get size(): number {
    return this.open.size;
  }

  /** Every open session, for inspection and shutdown. */
  list(): HttpSession[] {
    return [...this.open];
  }

  /** The request with this id while it waits for its answer. */
  waitingExchange(id: string): HttpExchange | undefined {
    return this.waiting.get(id);
  }

  /** A routed request: endpoint-unaware ones go straight out; the others through their token's session. */
  request(message: HttpRoutedMessage): void {
    const { route, exchange } = message;
    this.waiting.set(exchange.id, exchange);
    exchange.whenAnswered(() => this.waiting.delete(exchange.id));
    if (!route.endpointAware) {
      this.hub.forwarder.forward(exchange.id, message as RoutedMessage, null);
      return;
    }
    let sessions = this.byToken.get(route.appVersionName);
    if (sessions === undefined) this.byToken.set(route.appVersionName, (sessions = new Map()));
    const existing = sessions.get(route.token);
    if (existing?.isOpen) return existing.receive(message);

    const session = new HttpSession(this.hub, route, (ended) => this.forget(ended));
    sessions.set(route.token, session);
    this.open.add(session);
    session.start(message);
  }

  endAll(): void {
    for (const session of this.list()) session.send({ type: 'service.stopping' });
  }

  private forget(session: HttpSession): void {
    this.open.delete(session);
    const { appVersionName, token } = session.endpoint;
    const sessions = this.byToken.get(appVersionName);
    if (sessions?.get(token) !== session) return;
    sessions.delete(token);
    if (sessions.size === 0) this.byToken.delete(appVersionName);
  }
}
