// Recently ended client sessions, kept for inspection for a bounded time and count: what the
// management API shows of them, and their journals (by reference, serialized only when downloaded).
import type { SessionDetails, SessionJournals } from './session-inspection.js';

interface EndedSession {
  details: SessionDetails;
  journals: SessionJournals;
  endedAt: number;
}

export class EndedSessions {
  /** Oldest first. */
  private readonly sessions: EndedSession[] = [];

  constructor(
    private readonly maxCount: number,
    private readonly maxAgeMs: number,
  ) {}

  add(details: SessionDetails, journals: SessionJournals, endedAt: number): void {
    this.sessions.push({ details: { ...details, endedAt: new Date(endedAt).toISOString() }, journals, endedAt });
    if (this.sessions.length > this.maxCount) this.sessions.shift();
  }

  list(now: number): SessionDetails[] {
    return this.current(now).map((session) => session.details);
  }

  /** The most recent ended session of this MQTT client id. */
  find(mqttClientId: string, now: number): SessionDetails | undefined {
    return this.findEnded(mqttClientId, now)?.details;
  }

  /** The journals of the most recent ended session of this MQTT client id. */
  journals(mqttClientId: string, now: number): SessionJournals | undefined {
    return this.findEnded(mqttClientId, now)?.journals;
  }

  private findEnded(mqttClientId: string, now: number): EndedSession | undefined {
    return this.current(now).findLast((session) => session.details.mqttClientId === mqttClientId);
  }

  private current(now: number): readonly EndedSession[] {
    const cutoff = now - this.maxAgeMs;
    const firstKept = this.sessions.findIndex((session) => session.endedAt >= cutoff);
    this.sessions.splice(0, firstKept === -1 ? this.sessions.length : firstKept);
    return this.sessions;
  }
}
