// A chart's pure step function for sessions that are not actors (stepped-session.ts).
//
// xstate's own transition(machine, snapshot, event) and initialTransition(machine, input) compute
// a step without side effects, returning the next snapshot and the actions to run. But each call
// builds a throwaway actor to lend the step an "inert" actor scope — which costs several times the
// step itself, more than running the session as an actor would. This does what they do — the machine's own transition()
// and getInitialSnapshot() with an inert scope whose action executor only collects — with one
// scope per chart, built once. Reusing it is safe because a step runs only the chart's guards,
// assigns and delay expressions, never a session's actions: no step starts inside another.
import { createActor, type ActorScope, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';

/** An action a step returns: one the chart names, or xstate's raise/cancel of a delayed event. */
export interface StepAction {
  type: string;
  params?: unknown;
  /** The context and event as they are at this point of the step (after the assigns before it). */
  info: { context: unknown; event: unknown };
}

export class ChartSteps {
  private collected: StepAction[] = [];
  private readonly scope: ActorScope<AnyMachineSnapshot, EventObject>;

  constructor(readonly chart: AnyStateMachine) {
    // Never started: it only lends the scope its (empty) actor system, as xstate's inert scope does.
    const self = createActor(chart);
    this.scope = {
      self,
      id: '',
      sessionId: '',
      system: self.system,
      defer: () => {},
      emit: () => {},
      logger: () => {},
      stopChild: () => {},
      actionExecutor: (action: unknown) => void this.collected.push(action as StepAction),
    } as unknown as ActorScope<AnyMachineSnapshot, EventObject>;
  }

  /** As initialTransition(chart, input). */
  initial(input: unknown): [AnyMachineSnapshot, StepAction[]] {
    this.collected = [];
    const snapshot = this.chart.getInitialSnapshot(this.scope as never, input) as AnyMachineSnapshot;
    return [snapshot, this.collected];
  }

  /** As transition(chart, snapshot, event). */
  next(snapshot: AnyMachineSnapshot, event: EventObject): [AnyMachineSnapshot, StepAction[]] {
    this.collected = [];
    const next = this.chart.transition(snapshot as never, event as never, this.scope as never) as AnyMachineSnapshot;
    return [next, this.collected];
  }
}
