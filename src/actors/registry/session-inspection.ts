// What the management API shows of a session (issue: "why was this device cut off an hour ago?").
// Credentials appear by id only; tokens by their short hash; no payloads.
import type { ClientSession } from '../session/client-session.js';
import type { EndpointSession } from '../session/endpoint-session.js';
import type { HttpSession } from '../session/http-session.js';
import type { Journal, JournalEntry, JournalRecord } from '../session/journal.js';

export interface SessionSummary {
  mqttClientId: string;
  connectionId: string;
  clientId: string | null;
  transport: string;
  /** The client's address (the one a PROXY protocol header named, behind a load balancer). */
  remoteAddress: string | null;
  state: string;
  endpointCount: number;
  connectedSince: string | null;
  endedAt?: string;
}

export interface EndpointView {
  actorId: string;
  state: string;
  endpointId: string | null;
  tokenId: string | null;
  tokenHash: string;
  appVersionName: string;
  journal: readonly JournalEntry[];
}

export interface SessionDetails extends SessionSummary {
  credentialIds: readonly string[];
  endReason: string | null;
  endpoints: EndpointView[];
  journal: readonly JournalEntry[];
  journalDropped: number;
}

export function summarizeSession(session: ClientSession): SessionSummary {
  const { context, value } = session;
  return {
    mqttClientId: context.mqttClientId,
    connectionId: context.connectionId,
    clientId: context.clientId,
    transport: context.transport,
    remoteAddress: session.connection.remoteAddress ?? null,
    state: value as string,
    endpointCount: session.endpointSessions.length,
    connectedSince: context.connectedAt === null ? null : new Date(context.connectedAt).toISOString(),
  };
}

export function describeSession(session: ClientSession): SessionDetails {
  const { context } = session;
  return {
    ...summarizeSession(session),
    credentialIds: context.credentialIds,
    endReason: context.endReason,
    endpoints: [...session.endpointSessions, ...session.finishedEndpointSessions].map(describeEndpoint),
    journal: session.journal.list(),
    journalDropped: session.journal.dropped,
  };
}

export function describeEndpoint(endpoint: EndpointSession): EndpointView {
  const { context, value } = endpoint;
  return {
    actorId: endpoint.actorId,
    state: value as string,
    endpointId: context.endpointId,
    tokenId: context.tokenId,
    tokenHash: context.tokenHash,
    appVersionName: context.appVersionName,
    journal: endpoint.journal.list(),
  };
}

/** What GET /sessions/{id}/journal returns and `npm run replay` reads: a client session's journal with its endpoint sessions'. */
export interface SessionJournalFile {
  format: 'kpc-session-journal/1';
  mqttClientId: string;
  state: string;
  client: JournalRecord;
  endpoints: JournalRecord[];
}

/** A session's journals, kept by reference (no copy) until someone downloads them. */
export interface SessionJournals {
  mqttClientId: string;
  state(): string;
  client: Journal;
  endpoints: readonly Journal[];
}

export function journalsOf(session: ClientSession): SessionJournals {
  return {
    mqttClientId: session.request.mqttClientId,
    state: () => session.state,
    client: session.journal,
    endpoints: [...session.finishedEndpointSessions, ...session.endpointSessions].map((endpoint) => endpoint.journal),
  };
}

export function journalFile(journals: SessionJournals): SessionJournalFile {
  return {
    format: 'kpc-session-journal/1',
    mqttClientId: journals.mqttClientId,
    state: journals.state(),
    client: journals.client.toJSON(),
    endpoints: journals.endpoints.map((journal) => journal.toJSON()),
  };
}

/**
 * An HTTP session in the same shape as an MQTT one: named by its id (`http-…`) where MQTT sessions
 * show their client id, transport `http`, and its one endpoint session.
 */
export function describeHttpSession(session: HttpSession): SessionDetails {
  const { context, value } = session;
  return {
    mqttClientId: session.ownerId,
    connectionId: session.ownerId,
    clientId: null,
    transport: 'http',
    // No connection: each request may come from anywhere.
    remoteAddress: null,
    state: value as string,
    endpointCount: 1,
    connectedSince: new Date(session.openedAt).toISOString(),
    credentialIds: [],
    endReason: context.endReason,
    endpoints: [describeEndpoint(session.endpoint)],
    journal: session.journal.list(),
    journalDropped: session.journal.dropped,
  };
}

/** An HTTP session's journal (its chart's) with its endpoint session's, as for a client session. */
export function httpJournalsOf(session: HttpSession): SessionJournals {
  return { mqttClientId: session.ownerId, state: () => session.state, client: session.journal, endpoints: [session.endpoint.journal] };
}

/** The summary part of a session's details (what `GET /sessions` lists). */
export function summaryOf({ credentialIds, endReason, endpoints, journal, journalDropped, ...summary }: SessionDetails): SessionSummary {
  return summary;
}
