// The hot path, decided by the chart. Sending an event through an xstate actor costs a few
// microseconds (a macrostep, a new snapshot, observers), which per PUBLISH would be a large part
// of what KPC spends on a message. But in some states the chart answers an event the same way
// every time: one transition with no guard, no target and only named actions that assign nothing
// (the endpoint chart's `active: kp.published / forwardMessage`). Such a "steady reaction" leaves
// the snapshot as it was, so running its actions directly is exactly what the actor would do.
//
// The reaction is read from the chart itself, once per state: add a guard, a target or an assign
// to that transition and it is no longer steady, and the event goes through the actor again.
import type { AnyActorRef, AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';

type ActionImplementation = (args: { context: unknown; event: EventObject; self: AnyActorRef }, params: unknown) => void;
interface Reaction {
  run: ActionImplementation;
  params: unknown;
}

export class SteadyReactions {
  /** state value → its steady reaction to the event, or null when it has none. */
  private readonly byState = new Map<string, readonly Reaction[] | null>();

  /** `logic`: the chart with its action implementations (machine.provide(...)). */
  constructor(
    private readonly logic: AnyStateMachine,
    private readonly eventType: string,
  ) {}

  /** The actions the chart runs for the event in this snapshot's state, when that is a steady reaction. */
  in(snapshot: AnyMachineSnapshot): readonly Reaction[] | undefined {
    if (snapshot.status !== 'active' || typeof snapshot.value !== 'string') return undefined;
    let reactions = this.byState.get(snapshot.value);
    if (reactions === undefined) this.byState.set(snapshot.value, (reactions = this.readChart(snapshot.value)));
    return reactions ?? undefined;
  }

  private readChart(state: string): readonly Reaction[] | null {
    const transitions = this.logic.root.states[state]?.on[this.eventType];
    if (transitions?.length !== 1) return null;
    const [transition] = transitions;
    if (transition!.guard !== undefined || transition!.target !== undefined || transition!.reenter) return null;
    const reactions: Reaction[] = [];
    for (const action of transition!.actions as unknown[]) {
      const { type, params } = typeof action === 'string' ? { type: action, params: undefined } : (action as { type?: unknown; params?: unknown });
      const run = typeof type === 'string' ? (this.logic.implementations.actions[type] as unknown) : undefined;
      // Built-in actions (assign, raise, sendTo …) carry a `resolve`: they change the snapshot or the system.
      if (typeof run !== 'function' || 'resolve' in run || typeof params === 'function') return null;
      reactions.push({ run: run as ActionImplementation, params });
    }
    return reactions;
  }
}

/** Runs a steady reaction as the actor would run its actions, with the snapshot's context. */
export function runReactions(reactions: readonly Reaction[], snapshot: AnyMachineSnapshot, event: EventObject, self: AnyActorRef): void {
  for (const { run, params } of reactions) run({ context: snapshot.context, event, self }, params);
}
