// Each session's life as the events it received, so an operator can see why a session ended as it
// did (the session inspection API shows it): a bounded list of (time, event, resulting state). Events are recorded as data with message contents reduced to
// their size, so a journal never holds payloads, passwords or tokens.
//
// replay() folds the journal through the pure transition() and must give the live actor's state.
// When the bound drops old entries, they are folded into a base snapshot first, so replay still
// starts from the true beginning.
import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';

export interface JournalEntry {
  at: number;
  event: Record<string, unknown> & { type: string };
  state: unknown;
}

export class Journal {
  private readonly entries: JournalEntry[] = [];
  /** The state before entries[0], once older entries have been dropped. */
  private base: AnyMachineSnapshot | undefined;
  /** Entries dropped from the front because the journal is bounded. */
  dropped = 0;

  constructor(
    private readonly capacity: number,
    private readonly machine: AnyStateMachine,
  ) {}

  record(at: number, event: { type: string }, state: unknown): void {
    if (this.entries.length >= this.capacity) {
      this.base = this.step(this.base, this.entries.shift()!.event);
      this.dropped++;
    }
    this.entries.push({ at, event: summarizeEvent(event), state });
  }

  list(): readonly JournalEntry[] {
    return this.entries;
  }

  /** The state the recorded events lead to, computed without any side effect. */
  replay(): AnyMachineSnapshot | undefined {
    return this.entries.reduce<AnyMachineSnapshot | undefined>((snapshot, entry) => this.step(snapshot, entry.event), this.base);
  }

  private step(snapshot: AnyMachineSnapshot | undefined, event: JournalEntry['event']): AnyMachineSnapshot {
    if (event.type === 'xstate.init') return initialTransition(this.machine, event.input)[0];
    if (snapshot === undefined) throw new Error(`journal does not start with xstate.init (got ${event.type})`);
    return transition(this.machine, snapshot, event)[0];
  }
}

/** Replaces opaque message objects by what is safe and useful to keep: their size and QoS. */
export function summarizeEvent(event: { type: string }): JournalEntry['event'] {
  const { message, ...rest } = event as { type: string; message?: unknown };
  if (message === undefined) return rest;
  const packet = (message as { packet?: { qos?: number; payload?: Buffer } }).packet;
  return { ...rest, message: { qos: packet?.qos, bytes: packet?.payload?.length } };
}
