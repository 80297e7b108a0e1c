// A flat chart stepped from its table must do exactly what xstate does with the same chart: the same
// state after every event and the same actions in the same order. And a chart that is not flat is
// refused at start, naming why, instead of being run differently from what it draws.
import { describe, expect, it } from 'vitest';
import { assign, initialTransition, setup, transition, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import { FlatChart } from '../../src/infra/flat-chart.js';
import { confirmedPublisherMachine, type ConfirmedPublisherEvent } from '../../src/machines/confirmed-publisher.machine.js';

/** A small deterministic generator (mulberry32), so a failing walk can be replayed from its seed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomEvent(next: () => number): ConfirmedPublisherEvent {
  const count = () => Math.floor(next() * 3);
  const events: ConfirmedPublisherEvent[] = [
    { type: 'batch.sent' },
    { type: 'flush.confirmed', sentSinceFlush: count(), leftUnconfirmed: count() },
    { type: 'flush.failed', connected: next() < 0.5 },
    { type: 'nats.disconnected' },
    { type: 'nats.reconnected' },
  ];
  return events[Math.floor(next() * events.length)]!;
}

describe('FlatChart', () => {
  it('steps the confirmed publisher chart exactly as xstate does (2 000 random events, 20 walks)', () => {
    const actionNames = Object.keys(confirmedPublisherMachine.implementations.actions);
    for (let seed = 1; seed <= 20; seed++) {
      const next = random(seed);
      const run: string[] = [];
      const flat = new FlatChart<ConfirmedPublisherEvent>(
        confirmedPublisherMachine,
        Object.fromEntries(actionNames.map((name) => [name, () => run.push(name)])),
      );
      let [snapshot] = initialTransition(confirmedPublisherMachine) as [AnyMachineSnapshot, unknown];
      expect(flat.value).toBe(snapshot.value);
      for (let step = 0; step < 100; step++) {
        const event = randomEvent(next);
        const [following, actions] = transition(confirmedPublisherMachine, snapshot, event);
        run.length = 0;
        flat.send(event);
        expect({ seed, step, event, value: flat.value, actions: [...run] }).toEqual({
          seed, step, event, value: following.value, actions: actions.map((action) => action.type),
        });
        snapshot = following;
      }
    }
  });

  it('refuses a chart that is not flat, naming why', () => {
    const base = setup({ actions: { act: () => {}, count: assign({ n: 1 }) } });
    const refused = (config: object) => {
      try {
        const chart = base.createMachine({ id: 'c', initial: 'a', ...config } as never) as unknown as AnyStateMachine;
        new FlatChart(chart, { act: () => {}, count: () => {} });
        return 'accepted';
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(refused({ states: { a: { on: { go: { actions: 'act' } } } } })).toBe('accepted');
    expect(refused({ states: { a: { entry: 'act' } } })).toMatch(/a has entry or exit actions/);
    expect(refused({ states: { a: { initial: 'x', states: { x: {} } } } })).toMatch(/a has child states/);
    expect(refused({ states: { a: { after: { 10: 'a' } } } })).toMatch(/a has delays/);
    expect(refused({ context: { n: 0 }, states: { a: {} } })).toMatch(/it has a context/);
    expect(refused({ states: { a: { on: { go: { actions: assign({ n: 1 }) } } } } })).toMatch(/a on go: an action that is not a plain name/);
  });
});
