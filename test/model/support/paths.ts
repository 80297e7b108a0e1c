// Test paths generated from a chart with xstate/graph, and the catalogue of the chart's
// transitions the coverage test checks them against.
//
// Why `new TestModel` and not `createTestModel`: createTestModel() refuses machines with `after`
// or `invoke` ("After events on test machines are not supported"), and every KPC chart has
// delays. The options below are the ones createTestModel would pass (stateMatcher by
// `snapshot.matches`), minus that check; delayed events are explored as ordinary events
// (`xstate.after.*`), which the live tests turn into clock increments.
//
// Three families of paths, merged:
//   - shortest paths to every vertex;
//   - simple paths (no vertex twice) to every vertex;
//   - edge paths: for every edge of the graph that no path above walks, the shortest path to its
//     source, then that edge. Simple paths never revisit a vertex, so they miss self-loops (a
//     targetless transition, e.g. a PUBLISH answered while rejected) and edges back to a vertex
//     already on the way (roamed → active); the coverage test demands every transition.
// Paths whose events are a prefix of another path's are dropped: the longer path asserts every
// state on the way.
import { TestModel, type StatePath, type TestParam } from 'xstate/graph';
import type { AnyMachineSnapshot, AnyStateMachine, AnyStateNode, AnyTransitionDefinition, EventObject } from 'xstate';
import { label, type ModelSpec } from './events.js';

type Snapshot = AnyMachineSnapshot;
export type Params = TestParam<Snapshot, EventObject>;

export interface ModelPath {
  description: string;
  /** The model's events in order (without `xstate.init`). */
  events: EventObject[];
  test(params: Params): Promise<unknown>;
}

export interface GeneratedPaths {
  paths: ModelPath[];
  counts: { shortest: number; simple: number; edges: number; kept: number };
}

/** The events the model explores in a state: drivable ones that take some transition. */
export function eventsIn(spec: ModelSpec, snapshot: Snapshot): EventObject[] {
  if (snapshot.status !== 'active') return []; // a finished live actor ignores everything
  return spec.events.filter((event) => spec.drivable(snapshot, event) && spec.machine.getTransitionData(snapshot, event).length > 0);
}

export function testModel(spec: ModelSpec): TestModel<Snapshot, EventObject, unknown> {
  return new TestModel<Snapshot, EventObject, unknown>(spec.machine, {
    input: spec.input,
    events: (snapshot) => eventsIn(spec, snapshot),
    serializeState: (snapshot) => spec.serializeState(snapshot),
    stateMatcher: (snapshot, key) => snapshot.matches(key as never),
  });
}

const cache = new WeakMap<ModelSpec, GeneratedPaths>();

export function generatePaths(spec: ModelSpec): GeneratedPaths {
  const cached = cache.get(spec);
  if (cached !== undefined) return cached;
  const model = testModel(spec);
  const run = (path: StatePath<Snapshot, EventObject>) => (params: Params) => model.testPath(path, params);

  const shortest = model.getShortestPaths({ allowDuplicatePaths: true });
  const simple = model.getSimplePaths({ allowDuplicatePaths: true });

  // Which (vertex, event) edges the shortest and simple paths already walk.
  const walked = new Set<string>();
  for (const path of [...shortest, ...simple]) {
    path.steps.slice(1).forEach((step, i) => walked.add(`${spec.serializeState(path.steps[i]!.state)}|${label(step.event)}`));
  }
  const shortestTo = new Map(shortest.map((path) => [spec.serializeState(path.state), path]));
  const edges: Array<StatePath<Snapshot, EventObject>> = [];
  for (const [vertex, { transitions }] of Object.entries(model.getAdjacencyMap())) {
    for (const { event, state: next } of Object.values(transitions) as Array<{ event: EventObject; state: Snapshot }>) {
      if (walked.has(`${vertex}|${label(event)}`)) continue;
      const head = shortestTo.get(vertex)!;
      // Steps after the first (`xstate.init`) pair an event with the state it leads to.
      edges.push({ state: next, steps: [...head.steps, { state: next, event }], weight: head.weight + 1 });
    }
  }

  const all = [...shortest, ...simple, ...edges].map((path) => {
    const events = path.steps.slice(1).map((step) => step.event);
    const description = `${events.map(label).join(' → ') || '(initial state)'} ⇒ ${spec.serializeState(path.state)}`;
    return { description, events, test: run(path) };
  });
  const unique = [...new Map(all.map((path) => [path.description, path])).values()];
  const key = (path: ModelPath) => path.events.map(label);
  const kept = unique.filter((path) => !unique.some((other) => other !== path && isStrictPrefix(key(path), key(other))));

  const generated = { paths: kept, counts: { shortest: shortest.length, simple: simple.length, edges: edges.length, kept: kept.length } };
  cache.set(spec, generated);
  return generated;
}

function isStrictPrefix(prefix: string[], of: string[]): boolean {
  return prefix.length < of.length && prefix.every((item, i) => item === of[i]);
}

// ---- the transition catalogue ----

export interface CatalogueEntry {
  /** The atomic state the transition is taken from (inherited transitions appear once per state). */
  from: AnyStateNode;
  definition: AnyTransitionDefinition;
  /** `state --event [guard]--> target`, as failure messages and `notDrivable` spell it. */
  text: string;
}

/**
 * Every transition definition of the chart, from every non-final atomic state: its own `on`,
 * `after` (as `xstate.after.*`) and invoke `onDone`/`onError` (as `xstate.done|error.actor.*`),
 * plus those it inherits from ancestors (the registry's wildcards), once per state.
 */
export function transitionCatalogue(machine: AnyStateMachine): CatalogueEntry[] {
  const entries: CatalogueEntry[] = [];
  const atomic = allNodes(machine.root).filter((node) => node.type === 'atomic');
  for (const from of atomic) {
    for (let node: AnyStateNode | undefined = from; node !== undefined; node = node.parent) {
      for (const [eventType, candidates] of node.transitions) {
        candidates.forEach((definition: AnyTransitionDefinition) => {
          entries.push({ from, definition, text: describeTransition(from, node!, eventType, definition, candidates.length) });
        });
      }
    }
  }
  return entries;
}

/** The atomic state node a (flat) snapshot is in. */
export function atomicNodeOf(machine: AnyStateMachine, snapshot: Snapshot): AnyStateNode {
  if (typeof snapshot.value !== 'string') throw new Error('the coverage test expects flat charts');
  return machine.getStateNodeById(`${machine.id}.${snapshot.value}`);
}

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states as Record<string, AnyStateNode>).flatMap(allNodes)];
}

function describeTransition(
  from: AnyStateNode, declaredOn: AnyStateNode, eventType: string, definition: AnyTransitionDefinition, candidates: number,
): string {
  const guard = definition.guard === undefined
    ? (candidates > 1 ? ' [otherwise]' : '')
    : ` [${typeof definition.guard === 'string' ? definition.guard : (definition.guard as { type?: string }).type ?? 'inline guard'}]`;
  const actions = definition.actions.map((action: unknown) => (typeof action === 'string' ? action : (action as { type?: string }).type)).join(', ');
  const target = definition.target?.map((node: AnyStateNode) => node.key).join(', ') ?? `(stays: ${actions})`;
  const inherited = declaredOn === from ? '' : ` (declared on ${declaredOn.id})`;
  return `${from.key} --${eventType}${guard}--> ${target}${inherited}`;
}
