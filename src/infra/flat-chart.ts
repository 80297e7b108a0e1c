// Runs a flat chart — one level of states, transitions with at most a named guard, a target and
// named actions, nothing on entry or exit, no delays, no context — for an adapter that tells its chart
// about events on the message path (the confirmed publisher: two events per batch of messages).
// xstate's interpreter spends several microseconds per event (a macrostep, a new snapshot); a
// profile of request/response put the publisher's actor at 8.5 % of KPC's CPU. For a chart this
// simple, stepping is a table lookup, so this reads the chart once into a table (state → event →
// the candidate transitions in the chart's order) and steps that. The chart stays the truth: the
// table is built from it, its own guard implementations decide, and a chart that grows beyond flat
// is refused at start with the reason, instead of being run differently from what it draws.
import type { AnyStateMachine } from 'xstate';

interface Candidate {
  guard: string | undefined;
  target: string | undefined;
  actions: readonly string[];
}

type Guard = (args: { context: undefined; event: unknown }, params: undefined) => boolean;

export class FlatChart<TEvent extends { type: string }> {
  /** The current state's name. */
  value: string;
  private readonly table = new Map<string, Map<string, readonly Candidate[]>>();
  private readonly finalStates = new Set<string>();
  private readonly guards: Record<string, Guard>;
  /** Events sent while an action runs wait for it, as in an actor's mailbox. */
  private mailbox: TEvent[] | undefined;
  private stepping = false;

  constructor(
    chart: AnyStateMachine,
    private readonly actions: Record<string, (event: TEvent) => void>,
  ) {
    const refuse = (why: string): never => {
      throw new Error(`chart ${chart.id} is not flat (${why}): run it as an actor`);
    };
    if (chart.config.context !== undefined) refuse('it has a context');
    this.guards = chart.implementations.guards as Record<string, Guard>;
    for (const [name, node] of Object.entries(chart.root.states)) {
      if (Object.keys(node.states).length > 0) refuse(`${name} has child states`);
      // Delays first: xstate draws an `after` as entry and exit actions too.
      if (node.after.length > 0 || node.always !== undefined || node.invoke.length > 0) refuse(`${name} has delays, eventless transitions or invocations`);
      if (node.entry.length > 0 || node.exit.length > 0) refuse(`${name} has entry or exit actions`);
      if (node.type === 'final') this.finalStates.add(name);
      const byEvent = new Map<string, readonly Candidate[]>();
      for (const [eventType, transitions] of Object.entries(node.on)) {
        byEvent.set(
          eventType,
          transitions.map((transition) => {
            const guard = transition.guard;
            if (guard !== undefined && (typeof guard !== 'string' || typeof this.guards[guard] !== 'function')) refuse(`${name} on ${eventType}: a guard that is not a named function`);
            const targets = transition.target ?? [];
            if (targets.length > 1 || targets.some((target) => target.parent !== chart.root)) refuse(`${name} on ${eventType}: a target outside the top level`);
            return { guard: guard as string | undefined, target: targets[0]?.key, actions: transition.actions.map((action) => this.namedAction(action, chart.implementations.actions, (why) => refuse(`${name} on ${eventType}: ${why}`))) };
          }),
        );
      }
      this.table.set(name, byEvent);
    }
    this.value = chart.root.initial.target[0]!.key;
    for (const name of Object.keys(chart.implementations.actions)) {
      if (typeof actions[name] !== 'function') refuse(`no implementation of its action ${name}`);
    }
  }

  send(event: TEvent): void {
    if (this.stepping) {
      (this.mailbox ??= []).push(event);
      return;
    }
    this.step(event);
    while (this.mailbox !== undefined) {
      const next = this.mailbox.shift()!;
      if (this.mailbox.length === 0) this.mailbox = undefined;
      this.step(next);
    }
  }

  private step(event: TEvent): void {
    if (this.finalStates.has(this.value)) return;
    const candidates = this.table.get(this.value)!.get(event.type);
    if (candidates === undefined) return;
    for (const candidate of candidates) {
      if (candidate.guard !== undefined && !this.guards[candidate.guard]!({ context: undefined, event }, undefined)) continue;
      if (candidate.target !== undefined) this.value = candidate.target;
      this.stepping = true;
      try {
        for (const action of candidate.actions) this.actions[action]!(event);
      } finally {
        this.stepping = false;
      }
      return;
    }
  }

  /** An action of the chart by name: a built-in one (assign, raise …) or one with parameters is refused. */
  private namedAction(action: unknown, declared: Record<string, unknown>, refuse: (why: string) => never): string {
    const { type, params } = typeof action === 'string' ? { type: action, params: undefined } : (action as { type?: unknown; params?: unknown });
    const implementation = typeof type === 'string' ? declared[type] : undefined;
    // Built-in actions carry a `resolve`: they change the snapshot or the system.
    if (typeof implementation !== 'function' || 'resolve' in implementation || params !== undefined) return refuse('an action that is not a plain name');
    return type as string;
  }
}
