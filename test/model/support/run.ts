// Runs one generated path against the live system.
//
// The graph's vertices are serialized states, so one vertex stands for every state with that
// serialization: the snapshot a path step carries is the vertex's representative, whose context
// may come from another history (e.g. which credentials were accepted before a refusal). A
// ModelRun therefore replays the path's own events through the pure transition() as it goes, and
// hands the state checks that faithful snapshot; it also checks that it is the vertex the path
// says it is, and lets the test compare it with the live actor.
import { expect } from 'vitest';
import { initialTransition, transition, type AnyMachineSnapshot, type EventObject } from 'xstate';
import type { ModelSpec } from './events.js';
import { settle } from './harness.js';
import type { Params } from './paths.js';

export type Stimulus = (event: never) => unknown;
export type StateCheck = (snapshot: AnyMachineSnapshot) => unknown;

export class ModelRun {
  /** The model state this path is in, replayed from its own events. */
  snapshot: AnyMachineSnapshot;
  /** The model state before the last event, and that event. */
  previous: AnyMachineSnapshot | undefined;
  lastEvent: EventObject | undefined;
  /** The state values so far, oldest first. */
  readonly trail: unknown[];

  constructor(private readonly spec: ModelSpec) {
    [this.snapshot] = initialTransition(spec.machine, spec.input);
    this.trail = [this.snapshot.value];
  }

  /** How many times the path entered this state (the initial state counts as entered). */
  entries(value: string): number {
    return this.trail.filter((state, i) => state === value && this.trail[i - 1] !== value).length;
  }

  get cameFrom(): unknown {
    return this.previous?.value;
  }

  /**
   * Test parameters for `path.test`: `stimuli` turn each model event into a real-world stimulus
   * (awaited, then promise callbacks are let through); `checks` assert what the outside world saw
   * in each state; `liveCheck` compares the live actor with the model before every state check.
   */
  params(
    stimuli: Record<string, Stimulus>,
    checks: Record<string, StateCheck>,
    liveCheck: (model: AnyMachineSnapshot) => void,
  ): Params {
    // TestModel silently skips an event without an executor and a state without a check.
    const unstimulated = this.spec.events.filter((event) => !(event.type in stimuli)).map((event) => event.type);
    if (unstimulated.length > 0) throw new Error(`no live stimulus for ${unstimulated.join(', ')}`);
    const events: NonNullable<Params['events']> = {};
    for (const [type, stimulus] of Object.entries(stimuli)) {
      events[type] = async ({ event }) => {
        this.previous = this.snapshot;
        this.lastEvent = event;
        [this.snapshot] = transition(this.spec.machine, this.snapshot, event);
        this.trail.push(this.snapshot.value);
        await stimulus(event as never);
        await settle();
      };
    }
    const states: NonNullable<Params['states']> = {};
    for (const [state, check] of Object.entries(checks)) {
      states[state] = async (vertex) => {
        expect(this.spec.serializeState(this.snapshot), 'the replayed model state is the vertex of the path').toBe(this.spec.serializeState(vertex));
        liveCheck(this.snapshot);
        await check(this.snapshot);
      };
    }
    states['*'] = (vertex) => {
      throw new Error(`no check for state ${this.spec.serializeState(vertex)}`);
    };
    return { events, states };
  }
}
