// Model paths against the real service (test/model/e2e.model.test.ts): which generated paths can be
// driven end to end, and how one of them is run.
//
// A machine's end-to-end table maps an event's label (see events.ts) to the real-world stimulus
// that produces it (a real MQTT client, the dev ECAP provider, a NATS event, a signal …),
// optionally only from some states. The paths that run are the generated ones (the very list the
// in-process model tests drive) whose every step has a stimulus in the state it is taken from:
// when the chart changes, so does what runs.
import { isDeepStrictEqual } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { initialTransition, transition, type AnyMachineSnapshot, type EventObject } from 'xstate';
import { label, type ModelSpec } from './events.js';
import { generatePaths, type ModelPath, type Params } from './paths.js';
import { ModelRun, type StateCheck, type Stimulus } from './run.js';

export interface E2eStimulus<World> {
  /** Produces the event for real. Awaited; the state check that follows does the waiting for its effect. */
  run(world: World, event: EventObject): unknown;
  /** The states it can be produced in (default: any state the chart takes it in). */
  from?: readonly string[];
}

export type E2eTable<World> = Readonly<Record<string, E2eStimulus<World>>>;

/** The generated paths whose every event has a real-world stimulus in the state it is taken from. */
export function drivableEndToEnd<World>(spec: ModelSpec, table: E2eTable<World>): ModelPath[] {
  return generatePaths(spec).paths.filter((path) => {
    let [snapshot] = initialTransition(spec.machine, spec.input);
    for (const event of path.events) {
      const stimulus = table[label(event)];
      if (stimulus === undefined || (stimulus.from !== undefined && !stimulus.from.includes(snapshot.value as string))) return false;
      [snapshot] = transition(spec.machine, snapshot, event);
    }
    return true;
  });
}

/** One live actor's journal as the management API shows it: [event type, state after it] per event. */
export type JournalTrail = Array<[string, unknown]>;

export function trailOf(journal: ReadonlyArray<{ event: { type: string }; state: unknown; repeat?: number }>): JournalTrail {
  return journal.flatMap((entry) => Array.from({ length: entry.repeat ?? 1 }, (): [string, unknown] => [entry.event.type, entry.state]));
}

export interface E2eRunOptions {
  /** What the live journal holds before the model's first event. Default: `xstate.init` into the initial state. */
  initialTrail?: JournalTrail;
}

/**
 * One generated path run against the real service: ModelRun replays the model as the path goes,
 * this class turns each event into its real-world stimulus and keeps what the live actor's
 * journal must say by now.
 */
export class E2eRun<World> {
  readonly model: ModelRun;
  /** What the live actor's journal must hold after the events so far. */
  readonly trail: JournalTrail;
  private readonly labels: string[] = [];

  constructor(
    private readonly spec: ModelSpec,
    readonly path: ModelPath,
    private readonly options: E2eRunOptions = {},
  ) {
    this.model = new ModelRun(spec);
    this.trail = options.initialTrail ?? [['xstate.init', this.model.snapshot.value]];
  }

  /** Where the path is, for failure messages. */
  get where(): string {
    const step = this.labels.length === 0 ? 'in the initial state' : `after step ${this.labels.length} (${this.labels.at(-1)})`;
    return `${this.spec.name}: ${this.path.description}\n  ${step}, model state ${this.spec.serializeState(this.model.snapshot)}`;
  }

  /** The last event's label, if any. */
  get lastLabel(): string | undefined {
    return this.labels.at(-1);
  }

  /** `check` runs in every state of the chart, after every step. */
  params(world: World, table: E2eTable<World>, check: StateCheck): Params {
    const stimuli: Record<string, Stimulus> = {};
    for (const { type } of this.spec.events) {
      stimuli[type] = async (event: never) => {
        const name = label(event);
        const stimulus = table[name];
        if (stimulus === undefined) throw new Error(`${this.where}\n  no end-to-end stimulus for ${name}`);
        this.labels.push(name);
        // ModelRun has already stepped the model past this event.
        this.trail.push([(event as EventObject).type, this.model.snapshot.value]);
        await stimulus.run(world, event);
      };
    }
    const checks: Record<string, StateCheck> = {};
    for (const state of Object.keys(this.spec.machine.root.states)) checks[state] = check;
    return this.model.params(stimuli, checks, () => {});
  }
}

/**
 * Polls `read` until it deep-equals `expected`; after `timeoutMs`, fails with the difference
 * between what was seen last and what was expected.
 */
export async function observe<T>(where: string, read: () => Promise<T>, expected: T, timeoutMs: number, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let seen = await read();
  while (!isDeepStrictEqual(seen, expected) && Date.now() < deadline) {
    await sleep(intervalMs);
    seen = await read();
  }
  expect(seen, `${where}\n  the live service did not reach the model's state within ${timeoutMs} ms`).toEqual(expected);
  return seen;
}

/** `promise`, or a failure naming `what` after `timeoutMs`. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
