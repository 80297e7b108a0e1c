// What the management API shows of a session (issue: "why was this device cut off an hour ago?").
// Credentials appear by id only; tokens by their short hash; no payloads.
import type { ClientSession } from '../session/client-session.js';
import type { EndpointSession } from '../session/endpoint-session.js';
import type { JournalEntry } from '../session/journal.js';

export interface SessionSummary {
  mqttClientId: string;
  connectionId: string;
  clientId: string | null;
  transport: string;
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
  const { context, value } = session.actor.getSnapshot();
  return {
    mqttClientId: context.mqttClientId,
    connectionId: context.connectionId,
    clientId: context.clientId,
    transport: context.transport,
    state: value as string,
    endpointCount: session.endpointSessions.length,
    connectedSince: context.connectedAt === null ? null : new Date(context.connectedAt).toISOString(),
  };
}

export function describeSession(session: ClientSession): SessionDetails {
  const { context } = session.actor.getSnapshot();
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
  const { context, value } = endpoint.actor.getSnapshot();
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
