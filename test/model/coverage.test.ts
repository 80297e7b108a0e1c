// Every transition of every chart must be taken by some generated path that the model tests drive
// through the live actors. The paths are replayed with the pure transition() API, and
// getTransitionData() says which transition definitions each step selects.
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyTransitionDefinition } from 'xstate';
import { allModels } from './support/events.js';
import { atomicNodeOf, generatePaths, transitionCatalogue } from './support/paths.js';

describe.each(allModels.map((spec) => [spec.name, spec] as const))('%s chart', (_, spec) => {
  it('has every transition taken by a generated path (except those no live stimulus can take)', () => {
    const catalogue = transitionCatalogue(spec.machine);
    const taken = new Set<string>();
    const keyOf = (fromId: string, definition: AnyTransitionDefinition) => `${fromId}|${catalogue.indexOf(entryFor(fromId, definition))}`;
    const entryFor = (fromId: string, definition: AnyTransitionDefinition) =>
      catalogue.find((entry) => entry.from.id === fromId && entry.definition === definition)!;

    for (const path of generatePaths(spec).paths) {
      let [snapshot] = initialTransition(spec.machine, spec.input);
      for (const event of path.events) {
        const from = atomicNodeOf(spec.machine, snapshot);
        for (const definition of spec.machine.getTransitionData(snapshot, event)) {
          expect(entryFor(from.id, definition), `${path.description}: a transition outside the catalogue`).toBeDefined();
          taken.add(keyOf(from.id, definition));
        }
        [snapshot] = transition(spec.machine, snapshot, event);
      }
    }

    const missed = catalogue.filter((entry) => !taken.has(keyOf(entry.from.id, entry.definition))).map((entry) => entry.text);
    expect(missed, `transitions no generated path takes:\n  ${missed.join('\n  ')}\n`).toEqual(Object.keys(spec.notDrivable));
  });
});
