// The management API's view of the sessions (the SessionInspection port): live and recently ended
// sessions, their journals, who holds an endpoint, and an operator's disconnect.
import type { SessionInspection } from '../ports.js';
import type { ClientSession } from '../session/client-session.js';
import type { EndpointSession } from '../session/endpoint-session.js';
import type { HttpSession } from '../session/http-session.js';
import type { Directory } from './directory.js';
import type { EndedSessions } from './ended-sessions.js';
import {
  describeEndpoint, describeHttpSession, describeSession, httpJournalsOf, journalFile, journalsOf, summarizeSession, summaryOf,
  type SessionDetails, type SessionJournalFile, type SessionSummary,
} from './session-inspection.js';

export class SessionInspector implements SessionInspection {
  constructor(
    private readonly replicaId: string,
    /** Live sessions by connection id. */
    private readonly live: ReadonlyMap<string, ClientSession>,
    private readonly directory: Directory<EndpointSession, ClientSession>,
    private readonly ended: EndedSessions,
    /** The open HTTP sessions (1/KP over HTTP), listed with the MQTT ones. */
    private readonly http: { list(): HttpSession[] },
  ) {}

  inspectSessions(): { live: SessionSummary[]; ended: SessionSummary[] } {
    return {
      live: [...[...this.live.values()].map(summarizeSession), ...this.http.list().map((session) => summaryOf(describeHttpSession(session)))],
      ended: this.ended.list(Date.now()).map(summaryOf),
    };
  }

  /** The live session with this MQTT client id (or HTTP session id, `http-…`), else the most recent ended one. */
  inspectSession(mqttClientId: string): SessionDetails | undefined {
    const live = this.liveSession(mqttClientId);
    if (live !== undefined) return describeSession(live);
    const http = this.liveHttpSession(mqttClientId);
    return http !== undefined ? describeHttpSession(http) : this.ended.find(mqttClientId, Date.now());
  }

  /** The journals of the live session with this MQTT client id, else of the most recent ended one. */
  sessionJournal(mqttClientId: string): SessionJournalFile | undefined {
    const live = this.liveSession(mqttClientId);
    const http = live === undefined ? this.liveHttpSession(mqttClientId) : undefined;
    const journals = live !== undefined ? journalsOf(live) : http !== undefined ? httpJournalsOf(http) : this.ended.journals(mqttClientId, Date.now());
    return journals === undefined ? undefined : journalFile(journals);
  }

  inspectEndpoint(endpointId: string) {
    const holder = this.directory.holderOf(endpointId);
    return {
      endpointId,
      heldHere: holder !== undefined,
      replicaId: holder === undefined ? null : this.replicaId,
      sessions: this.directory.identifiedAs(endpointId).map((endpoint) => ({
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

  private liveHttpSession(id: string): HttpSession | undefined {
    return this.http.list().find((session) => session.ownerId === id);
  }

  private liveSession(mqttClientId: string): ClientSession | undefined {
    for (const session of this.live.values()) if (session.request.mqttClientId === mqttClientId) return session;
    return undefined;
  }
}
