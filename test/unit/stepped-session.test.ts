// Client and endpoint sessions keep only their chart's state value and context, and rebuild the
// snapshot for each step: a chart whose snapshot holds more must be refused, not silently cut short.
import { describe, expect, it } from 'vitest';
import { createMachine, fromPromise } from 'xstate';
import { steppable } from '../../src/actors/session/stepped-session.js';
import { clientSessionMachine } from '../../src/machines/client-session.machine.js';
import { endpointSessionMachine } from '../../src/machines/endpoint-session.machine.js';

describe('stepped sessions', () => {
  it('step the client and endpoint session charts', () => {
    expect(() => steppable(clientSessionMachine)).not.toThrow();
    expect(() => steppable(endpointSessionMachine)).not.toThrow();
  });

  it('refuse a chart that invokes, remembers history, tags a state or has an output', () => {
    const charts = [
      createMachine({ id: 'invokes', initial: 'a', states: { a: { invoke: { src: fromPromise(async () => {}) } } } }),
      createMachine({ id: 'history', initial: 'a', states: { a: { initial: 'b', states: { b: {}, h: { type: 'history' } } } } }),
      createMachine({ id: 'tags', initial: 'a', states: { a: { tags: ['busy'] } } }),
      createMachine({ id: 'output', initial: 'a', states: { a: { type: 'final', output: { ok: true } } } }),
    ];
    for (const chart of charts) expect(() => steppable(chart), chart.id).toThrow(`chart ${chart.id}: state`);
  });
});
