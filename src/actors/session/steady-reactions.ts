// The hot path, decided by the chart. Stepping a chart costs microseconds (xstate's pure
// transition() builds an actor scope, a macrostep, a new snapshot), which per PUBLISH would be a
// large part of what KPC spends on a message. But in some states the chart answers an event the
// same way every time: one transition with no guard, no target and only named actions that assign
// nothing (the endpoint chart's `active: kp.published / forwardMessage`). Such a "steady reaction"
// leaves the snapshot as it was, so running its actions directly is exactly what stepping the
// chart would do.
//
// The reaction is read from the chart itself, once per state: add a guard, a target or an assign
// to that transition and it is no longer steady, and the event goes through transition() again.
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';

/** A named action of the chart, with its parameters, as the session runs it. */
export interface Reaction {
  type: string;
  params: unknown;
}

export class SteadyReactions {
  /** state value → its steady reaction to the event, or null when it has none. */
  private readonly byState = new Map<string, readonly Reaction[] | null>();

  constructor(
    private readonly machine: AnyStateMachine,
    private readonly eventType: string,
  ) {}

  /** The actions the chart runs for the event in this snapshot's state, when that is a steady reaction. */
  in(snapshot: Pick<AnyMachineSnapshot, 'status' | 'value'>): readonly Reaction[] | undefined {
    if (snapshot.status !== 'active' || typeof snapshot.value !== 'string') return undefined;
    let reactions = this.byState.get(snapshot.value);
    if (reactions === undefined) this.byState.set(snapshot.value, (reactions = this.readChart(snapshot.value)));
    return reactions ?? undefined;
  }

  private readChart(state: string): readonly Reaction[] | null {
    const transitions = this.machine.root.states[state]?.on[this.eventType];
    if (transitions?.length !== 1) return null;
    const [transition] = transitions;
    if (transition!.guard !== undefined || transition!.target !== undefined || transition!.reenter) return null;
    const reactions: Reaction[] = [];
    for (const action of transition!.actions as unknown[]) {
      const { type, params } = typeof action === 'string' ? { type: action, params: undefined } : (action as { type?: unknown; params?: unknown });
      const declared = typeof type === 'string' ? (this.machine.implementations.actions[type] as unknown) : undefined;
      // Built-in actions (assign, raise, sendTo …) carry a `resolve`: they change the snapshot or the system.
      if (typeof declared !== 'function' || 'resolve' in declared || typeof params === 'function') return null;
      reactions.push({ type: type as string, params });
    }
    return reactions;
  }
}
