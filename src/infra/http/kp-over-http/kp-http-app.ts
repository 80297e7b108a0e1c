// 1/KP over HTTP (Kaa 1.2+): `POST {prefix}/kp1/{appVersionName}/{extensionInstanceName}/…` carries
// one 1/KP request; the extension's answer is the HTTP response. Same grammar, routing table, token
// identification and errors as 1/KP over MQTT; the request ID is optional (KPC picks one when the
// path has none, so that the extension answers).
import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import type { Logger } from 'pino';
import type { HttpRoutedMessage } from '../../../actors/session/http-session.js';
import type { HttpClientAuthentication } from '../../../actors/session/http-client-authentication.js';
import type { Route, RouteError } from '../../../actors/traffic/routing.js';
import type { HttpTransportConfig } from '../../config/types.js';
import { errorAnswer, type HttpAnswer } from './http-answer.js';
import { NodeHttpExchange } from './http-exchange.js';
import { readBoundedBody } from './request-body.js';

export interface KpHttpDeps {
  config: HttpTransportConfig;
  resolve(topic: string): Route | RouteError;
  /** Hands a routed request to the core (the HTTP sessions). */
  dispatch(message: HttpRoutedMessage): void;
  authenticate(username: string, password: string): Promise<HttpClientAuthentication>;
  /** False for a connection past `max-connections` (its requests get 503). */
  admitted(incoming: HttpBindings['incoming']): boolean;
  counters: { received(): void; answered(status: number): void; kpError(status: number): void };
  logger: Logger;
}

/** Request IDs KPC gives requests whose path has none: any Avro int will do, the correlationId is what routes the answer. */
const MAX_AVRO_INT = 2 ** 31 - 1;
let nextRequestId = 0;
const ownRequestId = (): number => (nextRequestId = (nextRequestId + 1) % MAX_AVRO_INT);

const UNAUTHORIZED = { 'WWW-Authenticate': 'Basic realm="kpc", charset="UTF-8"' };

export function createKpHttpApp(deps: KpHttpDeps): Hono<{ Bindings: HttpBindings }> {
  const { config, logger, counters } = deps;
  const resourceRoot = `${config.pathPrefix}/kp1/`;
  const app = new Hono<{ Bindings: HttpBindings }>();

  app.all('*', async (c) => {
    const { incoming, outgoing } = c.env;
    const answer = await handle(incoming, outgoing);
    counters.answered(answer.status);
    if (answer.headers.Connection === 'close') closeUnread(incoming);
    return new Response(answer.body.length === 0 ? null : answer.body, { status: answer.status, headers: answer.headers });
  });

  async function handle(incoming: HttpBindings['incoming'], outgoing: HttpBindings['outgoing']): Promise<HttpAnswer> {
    const path = rawPath(incoming.url ?? '/');
    if (!path.startsWith(resourceRoot)) return closing(errorAnswer(404, `Not found: 1/KP resources are under ${resourceRoot}`), incoming);
    if (incoming.method !== 'POST') return closing(errorAnswer(405, '1/KP over HTTP accepts POST only', { Allow: 'POST' }), incoming);
    if (!deps.admitted(incoming)) return closing(errorAnswer(503, 'Too many connections'), incoming);
    counters.received();

    const body = await readBoundedBody(incoming, config.maxBodyBytes);
    if (!body.ok) {
      const tooLarge = errorAnswer(413, `Request body larger than ${config.maxBodyBytes} bytes`, { Connection: 'close' });
      return body.reason === 'too-large' ? tooLarge : errorAnswer(400, 'Request body aborted');
    }
    const refusal = await authenticationRefusal(incoming.headers.authorization);
    if (refusal !== undefined) return refusal;

    const topic = decodePath(path.slice(config.pathPrefix.length + 1));
    const route = topic === null ? undefined : deps.resolve(topic);
    if (route === undefined || !route.ok) {
      const statusCode = route?.statusCode ?? 400;
      const reasonPhrase = route?.reasonPhrase ?? 'Invalid 1/KP resource path';
      counters.kpError(statusCode);
      logger.debug({ transport: 'http', statusCode, reason: reasonPhrase }, 'request refused');
      return errorAnswer(statusCode, reasonPhrase);
    }

    const exchange = new NodeHttpExchange(config.requestTimeoutMs);
    outgoing.once('close', () => exchange.abandon());
    const routed: Route = route.requestId === null ? { ...route, requestId: ownRequestId() } : route;
    deps.dispatch({
      packet: { topic: topic!, payload: body.body, qos: 1 },
      route: routed,
      // Called once NATS has the ClientData; an error means it could not be kept for sending.
      ack: (error) => {
        if (error !== undefined) exchange.answerError(503, 'Service unavailable');
      },
      exchange,
    });
    return (await exchange.answer) ?? errorAnswer(499, 'Client closed the request');
  }

  /** undefined when the request may go on; else the answer (401 or 503). */
  async function authenticationRefusal(header: string | undefined): Promise<HttpAnswer | undefined> {
    if (config.authentication === 'none') return undefined;
    const credentials = basicCredentials(header);
    if (credentials === null) {
      return config.authentication === 'required' ? errorAnswer(401, 'Credentials required', UNAUTHORIZED) : undefined;
    }
    const result = await deps.authenticate(credentials.username, credentials.password);
    if (result.outcome === 'accepted') return undefined;
    return result.outcome === 'refused' ? errorAnswer(401, 'Bad user name or password', UNAUTHORIZED) : errorAnswer(503, 'Service unavailable');
  }

  return app;
}

/** How long the rest of a refused body is let in (and thrown away) after the answer, at most. */
const LINGERING_CLOSE_MS = 1_000;

/**
 * The body is not read into memory any further. Once the answer is out the connection closes the
 * way RFC 9112 section 9.6 advises: half-closed first, what the client still sends thrown away for
 * a moment, then destroyed. Destroying it at once (Node's default after `Connection: close`) would
 * send a TCP reset while the client is still sending, and the client may then lose the answer.
 */
function closeUnread(incoming: HttpBindings['incoming']): void {
  const { socket } = incoming;
  socket.destroySoon = () => {
    socket.end();
    setTimeout(() => socket.destroy(), LINGERING_CLOSE_MS).unref();
  };
}

/**
 * An answer given without reading the request's body: the connection closes after it, since what
 * the client still sends cannot be told apart from its next request.
 */
function closing(answer: HttpAnswer, incoming: HttpBindings['incoming']): HttpAnswer {
  const { headers } = incoming;
  const hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0';
  return hasBody ? { ...answer, headers: { ...answer.headers, Connection: 'close' } } : answer;
}

/** The path without query, undecoded: `%2F` must not become a level separator. */
function rawPath(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** Each level percent-decoded; null when one does not decode or decodes to a separator. */
function decodePath(path: string): string | null {
  try {
    const levels = path.split('/').map((level) => decodeURIComponent(level));
    return levels.some((level) => level.includes('/')) ? null : levels.join('/');
  } catch {
    return null;
  }
}

/** `Authorization: Basic base64(user:password)` (RFC 7617), or null when absent or malformed. */
function basicCredentials(header: string | undefined): { username: string; password: string } | null {
  if (header === undefined || !/^basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
