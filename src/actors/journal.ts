// Each session's life as the events it received (ARCHITECTURE.md "Event sourcing"): a bounded list
// of (time, event, resulting state). Events are recorded as data with message contents reduced to
// their size, so a journal never holds payloads, passwords or tokens.

export interface JournalEntry {
  at: number;
  event: Record<string, unknown> & { type: string };
  state: unknown;
}

export class Journal {
  private readonly entries: JournalEntry[] = [];
  /** Entries dropped from the front because the journal is bounded. */
  dropped = 0;

  constructor(private readonly capacity: number) {}

  record(at: number, event: { type: string }, state: unknown): void {
    if (this.entries.length >= this.capacity) {
      this.entries.shift();
      this.dropped++;
    }
    this.entries.push({ at, event: summarizeEvent(event), state });
  }

  list(): readonly JournalEntry[] {
    return this.entries;
  }
}

/** Replaces opaque message objects by what is safe and useful to keep: their size and QoS. */
export function summarizeEvent(event: { type: string }): JournalEntry['event'] {
  const { message, ...rest } = event as { type: string; message?: unknown };
  if (message === undefined) return rest;
  const packet = (message as { packet?: { qos?: number; payload?: Buffer } }).packet;
  return { ...rest, message: { qos: packet?.qos, bytes: packet?.payload?.length } };
}
