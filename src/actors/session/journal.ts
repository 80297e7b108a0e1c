// Each session's life as the events it received, so that an operator can see — and replay on a
// laptop — why a session ended as it did (GET /sessions/{id}/journal, `npm run replay`).
//
// A session steps its chart itself (stepped-session.ts) and writes each event down with the state it
// led to (`record`). Events carry the data the chart's guards read (times,
// ids, the facts a CONNECT met), so folding the entries through the pure transition() gives the
// same states again: replayJournal() does that and names the first step that does not.
//
// Cheap by design, because every session has one: a bounded list of entries (`capacity`), kept
// flat (four array slots per entry, no entry objects until someone reads them); a PUBLISH carries
// no payload into the journal, and consecutive PUBLISHes that leave the state as it was share one
// entry (`repeat`), so traffic neither allocates nor pushes the lifecycle out. When the bound
// drops the oldest entry, it is folded into a base snapshot first: a replay starts from that
// snapshot instead of from `xstate.init`.
import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';

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

/** Entry times are kept as milliseconds since this moment: small integers, which V8 stores without a heap number. */
const EPOCH = Date.now();
/** Slots per entry in a journal's flat list: when (since EPOCH), the event, the state it led to, how many times in a row. */
const SLOTS = 4;

export class Journal {
  /**
   * The entries, flat and without an object per entry — [at, event, state, repeat, at, …] — since
   * every session keeps one and most are never read; allocated with the first entry.
   */
  private slots: unknown[] | undefined;
  private base: AnyMachineSnapshot | undefined;
  /** Entries dropped from the front (folded into the base snapshot). */
  dropped = 0;

  constructor(
    private readonly capacity: number,
    private readonly machine: AnyStateMachine,
    readonly actorId: string,
  ) {}

  /** An event the session's chart took, and the state it led to. */
  record(event: EventObject & Record<string, unknown>, state: unknown, at = Date.now()): void {
    this.append(at, journaled(event), state);
  }

  list(): JournalEntry[] {
    const entries: JournalEntry[] = [];
    const slots = this.slots ?? [];
    for (let i = 0; i < slots.length; i += SLOTS) entries.push(entryAt(slots, i));
    return entries;
  }

  toJSON(): JournalRecord {
    return {
      machine: this.machine.id,
      actorId: this.actorId,
      dropped: this.dropped,
      base: this.base === undefined ? null : { value: this.base.value, context: this.base.context },
      entries: this.list(),
    };
  }

  private append(at: number, event: JournalEntry['event'], state: unknown): void {
    const slots = (this.slots ??= []);
    const last = slots.length - SLOTS;
    // Consecutive PUBLISHes that leave the state as it was share one entry.
    if (last >= 0 && event === PUBLISHED && slots[last + 1] === PUBLISHED && slots[last + 2] === state) {
      slots[last + 3] = (slots[last + 3] as number) + 1;
      return;
    }
    if (slots.length >= this.capacity * SLOTS) this.dropOldest(slots);
    slots.push(at - EPOCH, event, state, 1);
  }

  private dropOldest(slots: unknown[]): void {
    this.base = foldEntry(this.machine, this.base, entryAt(slots, 0));
    slots.splice(0, SLOTS);
    this.dropped++;
  }
}

/** What a journal keeps of an event: PUBLISH and SUBSCRIBE without their opaque contents. */
function journaled(event: EventObject & Record<string, unknown>): JournalEntry['event'] {
  return event.type === 'kp.published' ? PUBLISHED : event.type === 'kp.subscribed' ? SUBSCRIBED : event;
}

function entryAt(slots: readonly unknown[], i: number): JournalEntry {
  const repeat = slots[i + 3] as number;
  const entry: JournalEntry = { at: EPOCH + (slots[i] as number), event: slots[i + 1] as JournalEntry['event'], state: slots[i + 2] };
  if (repeat > 1) entry.repeat = repeat;
  return entry;
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
