// The hot path's shortcut is read from the chart: only a transition with no guard, no target and no
// assign is run without stepping the chart, so a guard or a target added to the chart takes effect at once.
import { describe, expect, it } from 'vitest';
import { assign, initialTransition, setup, transition } from 'xstate';
import { SteadyReactions } from '../../src/actors/session/steady-reactions.js';
import { endpointSessionMachine } from '../../src/machines/endpoint-session.machine.js';

const input = {
  sessionId: 'e1', appName: 'app', appVersionName: 'v1', tokenHash: 'h', identificationTimeoutMs: 1000, negativeCacheMs: 1000, maxHeldMessages: 5,
};

describe('steady reactions', () => {
  it('the endpoint chart forwards a PUBLISH steadily only while active', () => {
    const reactions = new SteadyReactions(endpointSessionMachine, 'kp.published');
    let [snapshot] = initialTransition(endpointSessionMachine, input);
    expect(reactions.in(snapshot), 'identifying: holds or refuses (a guard, an assign)').toBeUndefined();
    [snapshot] = transition(endpointSessionMachine, snapshot, { type: 'ecap.replied', statusCode: 200, endpointId: 'ep', tokenId: 't', reasonPhrase: null });
    expect(reactions.in(snapshot)?.map((reaction) => reaction.type)).toEqual(['forwardMessage']);
    [snapshot] = transition(endpointSessionMachine, snapshot, { type: 'elce.connected', originatorReplicaId: 'r2' });
    expect(reactions.in(snapshot), 'roamed: becomes active again (a target)').toBeUndefined();
  });

  it('a guard, a target or an assign on the transition makes it go through transition()', () => {
    const chart = (on: object) =>
      setup({
        actions: { forward: () => {}, count: assign({ n: 1 }) },
        guards: { allowed: () => true },
      }).createMachine({ initial: 'a', context: { n: 0 }, states: { a: { on: { go: on } }, b: {} } });
    const steady = (on: object) => {
      const machine = chart(on);
      return new SteadyReactions(machine, 'go').in(initialTransition(machine)[0]) !== undefined;
    };
    expect(steady({ actions: 'forward' })).toBe(true);
    expect(steady({ actions: 'forward', guard: 'allowed' })).toBe(false);
    expect(steady({ actions: 'forward', target: 'b' })).toBe(false);
    expect(steady({ actions: ['forward', 'count'] })).toBe(false);
    expect(steady([{ actions: 'forward', guard: 'allowed' }, { actions: 'forward' }])).toBe(false);
  });
});
