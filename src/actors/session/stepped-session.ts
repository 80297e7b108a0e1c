// A session that steps its chart with a pure transition (chart-steps.ts) instead of running an actor.
// KPC holds a client session and its endpoint sessions for as long as each client is connected,
// and an actor carries per instance what these sessions never use (a mailbox object, listeners,
// observers, inspection, a system, closures). A stepped session holds only its chart's state
// value and context — all a snapshot of these charts holds (they have no history states, no
// children, no tags and no output), without the snapshot object, its tags Set and node list —
// and rebuilds the snapshot for each step (machine.resolveState). The same chart decides every
// step (a step applies its assigns and returns the other actions with the context as it is at
// that point of the step), and the session then
//   - runs the named actions in order, with its own implementations (perform());
//   - owns the one timer a state's `after` needs, only while it is pending (on the registry's clock);
//   - queues events sent to it during a step, as an actor's mailbox would;
//   - journals each event with the state it led to;
//   - reports its end (a final state) or an action that threw to the registry, as an actor's
//     parent would hear of them (`session.finished`, `session.failed`).
import type { AnyMachineSnapshot, AnyStateMachine, EventObject, SnapshotStatus } from 'xstate';
import { ChartSteps, type StepAction } from './chart-steps.js';
import type { Journal } from './journal.js';
import type { Supervised, Supervision } from './session-hub.js';

/** `after` is a delayed raise of the event `xstate.after.<delay>.<state id>`, cancelled when the state is left. */
interface DelayedRaise {
  event: { type: string };
  id: string;
  delay: number;
}

/** Each chart's step function, built once its chart passed steppable(). */
const stepsByChart = new WeakMap<AnyStateMachine, ChartSteps>();

function stepsOf(chart: AnyStateMachine): ChartSteps {
  let steps = stepsByChart.get(chart);
  if (steps === undefined) {
    steppable(chart);
    stepsByChart.set(chart, (steps = new ChartSteps(chart)));
  }
  return steps;
}

/**
 * Refuses a chart whose snapshot would hold more than a state value and a context (an invoked
 * child, a history state, a tag, an output): a stepped session keeps only those two. Built-in
 * actions other than a delayed raise and its cancel (spawnChild, sendTo, emit …) are refused when a
 * step returns them (perform() knows no such action), so the session fails loudly instead.
 */
export function steppable(chart: AnyStateMachine): void {
  const visit = (node: AnyStateMachine['root']): void => {
    if (node.invoke.length > 0 || node.type === 'history' || node.tags.length > 0 || node.output !== undefined) {
      throw new Error(`chart ${chart.id}: state ${node.id} invokes, remembers history, has tags or an output; a stepped session keeps only a state value and a context`);
    }
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(chart.root);
}

/**
 * What each action a chart names does, for a session of type `TSession` (the chart's assigns are
 * applied by the step itself and are not listed).
 */
export type SessionActions<TSession, TContext, TEvent> = Record<string, (session: TSession, context: TContext, event: TEvent, params: never) => void>;

/** `TSnapshot`, `TEvent`: the chart's snapshot and event types (SnapshotFrom, its event union). */
export abstract class SteppedSession<TSnapshot extends AnyMachineSnapshot, TEvent extends EventObject> implements Supervised {
  /** The chart's state value and context: the session's whole state as the chart sees it. */
  value: TSnapshot['value'];
  context: TSnapshot['context'];
  /** The chart reached a final state. */
  private done = false;
  readonly journal: Journal;
  /** The pending `after` of the current state, if any (these charts have at most one per state). */
  private timer: { id: string; handle: unknown } | undefined;
  /** Events sent while a step was being carried out: they wait their turn (none: undefined). */
  private mailbox: TEvent[] | undefined;
  private stepping = false;
  /** An action threw: the session does nothing more; the registry discards it. */
  private failed = false;
  /** The initial step's actions, carried out by start(). */
  private initialActions: readonly StepAction[] | undefined;
  /** The chart and its step function. */
  private readonly steps: ChartSteps;

  /** The registry, to which the session reports its end, and whose clock runs its timers. */
  private readonly supervision: Supervision;

  /** Supervised by `hub.directory` from the start, with a journal from the hub. */
  constructor(
    hub: { readonly directory: Supervision; newJournal(machine: AnyStateMachine, actorId: string): Journal },
    chart: AnyStateMachine,
    readonly actorId: string,
    input: object,
  ) {
    this.steps = stepsOf(chart);
    const [snapshot, initialActions] = this.steps.initial(input);
    this.value = snapshot.value;
    this.context = snapshot.context;
    this.initialActions = initialActions;
    this.journal = hub.newJournal(chart, actorId);
    this.journal.record({ type: 'xstate.init', input }, snapshot.value);
    this.supervision = hub.directory;
    hub.directory.supervise(actorId, this);
  }

  /** The session's implementations of the actions its chart names. */
  protected abstract get actions(): SessionActions<this, TSnapshot['context'], TEvent>;

  abstract discard(error: unknown): void;
  abstract forgotten(): void;

  /** Carries out the chart's initial step (its initial state's entry actions and timer). */
  startChart(): void {
    const initialActions = this.initialActions;
    if (initialActions === undefined) return;
    this.initialActions = undefined;
    this.carryOut(initialActions);
    this.processMailbox();
  }

  /** As an actor's snapshot says it: active, done (a final state) or error (an action threw). */
  get status(): SnapshotStatus {
    return this.failed ? 'error' : this.done ? 'done' : 'active';
  }

  /** What the chart's snapshot shows (for inspection). */
  get snapshot(): Pick<TSnapshot, 'value' | 'context' | 'status'> {
    return { value: this.value, context: this.context, status: this.status } as Pick<TSnapshot, 'value' | 'context' | 'status'>;
  }

  get isFinished(): boolean {
    return this.failed || this.done;
  }

  /** Whether the next event may skip the step (see runSteady): none is under way, none waits. */
  protected get idle(): boolean {
    return !this.stepping && !this.failed && this.mailbox === undefined;
  }

  /** Every event reaches the chart through here, and is journaled as the chart takes it. */
  send(event: TEvent): void {
    if (this.isFinished) return; // ended: nothing more happens to it
    if (this.stepping) {
      (this.mailbox ??= []).push(event);
      return;
    }
    this.step(event);
    this.processMailbox();
  }

  /**
   * An event the chart answers in the current state with a steady reaction (see
   * steady-reactions.ts): journaled, and its actions run, without a step.
   */
  protected runSteady(reactions: readonly { type: string; params: unknown }[], event: TEvent): void {
    this.journal.record(event, this.value);
    this.stepping = true;
    try {
      for (const { type, params } of reactions) this.perform(type, this.context, event, params);
    } catch (error) {
      this.fail(error);
    } finally {
      this.stepping = false;
    }
    this.processMailbox();
  }

  private processMailbox(): void {
    while (this.mailbox !== undefined) {
      const next = this.mailbox.shift()!;
      if (this.mailbox.length === 0) this.mailbox = undefined;
      if (!this.isFinished) this.step(next);
    }
  }

  /** One step of the chart: the next snapshot, journaled, then its actions carried out. */
  private step(event: TEvent): void {
    const current = this.steps.chart.resolveState({ value: this.value, context: this.context });
    const [next, stepActions] = this.steps.next(current, event);
    this.value = next.value;
    this.context = next.context;
    this.done = next.status === 'done';
    this.journal.record(event, next.value);
    this.carryOut(stepActions);
    if (next.status === 'done' && !this.failed) {
      this.clearTimer();
      this.supervision.report({ type: 'session.finished', actorId: this.actorId });
    }
  }

  /** A step's actions, in order; events sent to the session meanwhile wait in its mailbox. */
  private carryOut(stepActions: readonly StepAction[]): void {
    this.stepping = true;
    try {
      for (const action of stepActions) {
        if (action.type === 'xstate.raise') this.startTimer(action.params as DelayedRaise);
        else if (action.type === 'xstate.cancel') this.cancelTimer((action.params as { sendId: string }).sendId);
        else this.perform(action.type, action.info.context as TSnapshot['context'], action.info.event as TEvent, action.params);
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.stepping = false;
    }
  }

  /** Runs one action the chart names (not a built-in one), with the context of that point of the step. */
  private perform(type: string, context: TSnapshot['context'], event: TEvent, params: unknown): void {
    const run = this.actions[type];
    if (run === undefined) throw new Error(`the ${this.steps.chart.id} chart names an action its session does not implement: ${type}`);
    run(this, context, event, params as never);
  }

  /** As an actor that threw: nothing more happens to it, and the registry discards it (discard()). */
  private fail(error: unknown): void {
    this.failed = true;
    this.clearTimer();
    this.mailbox = undefined;
    this.supervision.report({ type: 'session.failed', actorId: this.actorId, error });
  }

  private startTimer({ event, id, delay }: DelayedRaise): void {
    this.clearTimer();
    const handle = this.supervision.clock.setTimeout(() => {
      this.timer = undefined;
      this.send(event as TEvent);
    }, delay);
    this.timer = { id, handle };
  }

  private cancelTimer(id: string): void {
    if (this.timer?.id === id) this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.supervision.clock.clearTimeout(this.timer.handle);
    this.timer = undefined;
  }
}
