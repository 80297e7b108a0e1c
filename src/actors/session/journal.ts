// Each session's life as the events it received, so that an operator can see — and replay on a
// laptop — why a session ended as it did (GET /sessions/{id}/journal, `npm run replay`).
//
// An event is written down as it is sent to the actor (`received`), and completed with the state
// it led to once the actor has processed it (`processed`, from the actor's snapshot updates: one
// per event, in mailbox order). Events carry the data the chart's guards read (times, ids, the
// facts a CONNECT met), so folding the entries through the pure transition() gives the same
// states again: replayJournal() does that and names the first step that does not.
//
// Cheap by design, because every session has one: a bounded list of entries (`capacity`); a
// PUBLISH carries no payload into the journal, and consecutive PUBLISHes that leave the state as it
// was share one entry (`repeat`), so traffic neither allocates nor pushes the lifecycle out. When
// the bound drops the oldest entry, it is folded into a base snapshot first: a replay starts from
// that snapshot instead of from `xstate.init`.
import { initialTransition, transition, type AnyActorRef, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';

export interface JournalEntry {
  at: number;
  event: EventObject & Record<string, unknown>;
  /** The state value the event led to. */
  state: unknown;
  /** How many times in a row this event arrived and led to this same state (absent: once). */
  repeat?: number;
}

/** A journal as JSON: what GET /sessions/{id}/journal returns per actor and `npm run replay` reads. */
export interface JournalRecord {
  /** The chart's id (`clientSession`, `endpointSession`). */
  machine: string;
  actorId: string;
  /** Entries dropped from the front (folded into `base`). */
  dropped: number;
  /** The state before entries[0] when entries were dropped; null when entries[0] is `xstate.init`. */
  base: { value: unknown; context: unknown } | null;
  entries: readonly JournalEntry[];
}

/**
 * A PUBLISH and a SUBSCRIBE naming a token, as journals keep them: their contents (the message, the
 * SUBACK callback) are opaque to the chart and stay out of the journal.
 */
const PUBLISHED: JournalEntry['event'] = Object.freeze({ type: 'kp.published' });
const SUBSCRIBED: JournalEntry['event'] = Object.freeze({ type: 'kp.subscribed' });

export class Journal {
  private readonly entries: JournalEntry[] = [];
  /** Events sent to the actor and not processed yet, oldest first (at most a few). */
  private readonly unprocessed: Array<{ at: number; event: JournalEntry['event'] }> = [];
  private base: AnyMachineSnapshot | undefined;
  /** Entries dropped from the front (folded into the base snapshot). */
  dropped = 0;

  constructor(
    private readonly capacity: number,
    private readonly machine: AnyStateMachine,
    readonly actorId: string,
  ) {}

  /** An event as it is sent to the actor (before the actor processes it). */
  received(event: EventObject & Record<string, unknown>, at = Date.now()): void {
    this.unprocessed.push({ at, event: event.type === 'kp.published' ? PUBLISHED : event.type === 'kp.subscribed' ? SUBSCRIBED : event });
  }

  /** Whether every event sent so far has been processed (nothing waits in the actor's mailbox). */
  get caughtUp(): boolean {
    return this.unprocessed.length === 0;
  }

  /** An event handled at once without a change of state (a steady reaction, see steady-reactions.ts). */
  record(event: EventObject & Record<string, unknown>, state: unknown): void {
    this.received(event);
    this.processed(state);
  }

  /** The actor processed the oldest unprocessed event and is now in `state`. */
  processed(state: unknown): void {
    const next = this.unprocessed.shift();
    if (next === undefined) return;
    const last = this.entries[this.entries.length - 1];
    if (last !== undefined && next.event === PUBLISHED && last.event === PUBLISHED && last.state === state) {
      last.repeat = (last.repeat ?? 1) + 1;
      return;
    }
    if (this.entries.length >= this.capacity) this.dropOldest();
    this.entries.push({ at: next.at, event: next.event, state });
  }

  /** The actor stopped (its final snapshot was processed already): events still queued for it never will be. */
  finished(): void {
    this.unprocessed.length = 0;
  }

  list(): readonly JournalEntry[] {
    return this.entries;
  }

  toJSON(): JournalRecord {
    return {
      machine: this.machine.id,
      actorId: this.actorId,
      dropped: this.dropped,
      base: this.base === undefined ? null : { value: this.base.value, context: this.base.context },
      entries: this.entries,
    };
  }

  private dropOldest(): void {
    const oldest = this.entries.shift()!;
    this.base = foldEntry(this.machine, this.base, oldest);
    this.dropped++;
  }
}

/** One entry applied to a snapshot (`repeat` times); the first entry of a whole journal is `xstate.init`. */
function foldEntry(machine: AnyStateMachine, snapshot: AnyMachineSnapshot | undefined, entry: JournalEntry): AnyMachineSnapshot {
  if (entry.event.type === 'xstate.init') return initialTransition(machine, entry.event.input)[0];
  if (snapshot === undefined) throw new Error(`the journal does not start with xstate.init or a base snapshot (got ${entry.event.type})`);
  let next = snapshot;
  for (let i = 0; i < (entry.repeat ?? 1); i++) [next] = transition(machine, next, entry.event);
  return next;
}

export interface ReplayStep {
  index: number;
  entry: JournalEntry;
  /** The state the chart reaches from the previous step with this entry's event. */
  replayed: unknown;
  matches: boolean;
}

export type ReplayOutcome = { ok: true; steps: number; snapshot: AnyMachineSnapshot } | { ok: false; failed: ReplayStep; reason: string };

/**
 * Folds a journal through the pure chart (no side effect: transition() only computes), from its
 * base snapshot or its `xstate.init`, calling `onStep` for every entry; stops at the first entry
 * whose recorded state is not the one the chart reaches.
 */
export function replayJournal(machine: AnyStateMachine, record: JournalRecord, onStep: (step: ReplayStep) => void = () => {}): ReplayOutcome {
  let snapshot: AnyMachineSnapshot | undefined = record.base === null ? undefined : machine.resolveState(record.base as never);
  for (const [index, entry] of record.entries.entries()) {
    let step: ReplayStep;
    try {
      snapshot = foldEntry(machine, snapshot, entry);
      step = { index, entry, replayed: snapshot.value, matches: JSON.stringify(snapshot.value) === JSON.stringify(entry.state) };
    } catch (error) {
      step = { index, entry, replayed: undefined, matches: false };
      onStep(step);
      return { ok: false, failed: step, reason: (error as Error).message };
    }
    onStep(step);
    if (!step.matches) {
      return { ok: false, failed: step, reason: `recorded ${JSON.stringify(entry.state)}, the chart reaches ${JSON.stringify(step.replayed)}` };
    }
  }
  if (snapshot === undefined) return { ok: false, failed: { index: 0, entry: undefined as never, replayed: undefined, matches: false }, reason: 'the journal is empty' };
  return { ok: true, steps: record.entries.length, snapshot };
}

/**
 * Keeps `journal` in step with `actor`: one snapshot update per processed event, in mailbox order
 * (a done snapshot too). Subscribe before the actor starts, so that `xstate.init` is recorded.
 */
export function keepJournal(actor: AnyActorRef, journal: Journal): void {
  actor.subscribe({
    next: (snapshot: { value?: unknown }) => journal.processed(snapshot.value),
    // Failures are the supervisor's (it receives xstate.error.actor.*); an error listener here
    // keeps xstate from also reporting the failure as unhandled.
    error: () => journal.finished(),
    complete: () => journal.finished(),
  });
}
