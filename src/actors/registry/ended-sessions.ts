// Recently ended client sessions, kept for inspection for a bounded time and count.
import type { SessionDetails } from './session-inspection.js';

export class EndedSessions {
  /** Oldest first. */
  private readonly sessions: SessionDetails[] = [];

  constructor(
    private readonly maxCount: number,
    private readonly maxAgeMs: number,
  ) {}

  add(details: SessionDetails, endedAt: number): void {
    this.sessions.push({ ...details, endedAt: new Date(endedAt).toISOString() });
    if (this.sessions.length > this.maxCount) this.sessions.shift();
  }

  list(now: number): readonly SessionDetails[] {
    const cutoff = now - this.maxAgeMs;
    const firstKept = this.sessions.findIndex((session) => Date.parse(session.endedAt!) >= cutoff);
    this.sessions.splice(0, firstKept === -1 ? this.sessions.length : firstKept);
    return this.sessions;
  }

  /** The most recent ended session of this MQTT client id. */
  find(mqttClientId: string, now: number): SessionDetails | undefined {
    return this.list(now).findLast((session) => session.mqttClientId === mqttClientId);
  }
}
