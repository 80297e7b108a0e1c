// Client and endpoint sessions keep only their chart's state value and context, and rebuild the
// snapshot for each step: a chart whose snapshot holds more must be refused, not silently cut short.
import { describe, expect, it } from 'vitest';
import { createMachine, fromPromise, initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';
import { ChartSteps } from '../../src/actors/session/chart-steps.js';
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

  it('step exactly as xstate\'s transition() does: same states, contexts and actions, in order', () => {
    const sameAsXstate = (chart: AnyStateMachine, input: object, events: (EventObject & Record<string, unknown>)[]) => {
      const steps = new ChartSteps(chart);
      const view = ([snapshot, actions]: [AnyMachineSnapshot, readonly { type: string; params?: unknown; info: { context: unknown } }[]]) => ({
        value: snapshot.value, status: snapshot.status, context: snapshot.context,
        actions: actions.map(({ type, params, info }) => ({ type, params, context: info.context })),
      });
      let ours = steps.initial(input);
      let theirs = initialTransition(chart, input) as never as Parameters<typeof view>[0];
      expect(view(ours)).toEqual(view(theirs));
      for (const event of events) {
        // The stepped session steps from a snapshot rebuilt from value and context.
        ours = steps.next(chart.resolveState({ value: ours[0].value, context: ours[0].context }), event);
        theirs = transition(chart, theirs[0], event as never) as never;
        expect(view(ours), event.type).toEqual(view(theirs));
      }
      return ours[0].value;
    };
    const accepted = { type: 'ecap.replied', statusCode: 200, endpointId: 'ep', tokenId: 'tok', reasonPhrase: null };
    expect(sameAsXstate(endpointSessionMachine, {
      sessionId: 'e1', appName: 'app', appVersionName: 'v1', tokenHash: 'h', identificationTimeoutMs: 1000, negativeCacheMs: 1000, maxHeldMessages: 1,
    }, [{ type: 'kp.published' }, { type: 'kp.published' }, accepted, { type: 'elce.connected' }, { type: 'kp.published' }, { type: 'token.revoked', tokenIds: ['tok'] }])).toBe('revoked');
    expect(sameAsXstate(clientSessionMachine, { connectionId: 'c1', mqttClientId: 'm', transport: 'tcp', authenticationTimeoutMs: 1000 }, [
      { type: 'mqtt.connect', at: 1, username: 'u', passwordPresent: true, certificate: 'none', anonymousAllowed: false, serviceAvailable: true, authenticationSlotFree: true },
      { type: 'ecap.replied', kind: 'username-password', statusCode: 200, clientId: 'c', credentialId: 'cred', tenantId: null },
      { type: 'credential.revoked', credentialId: 'cred', tenantId: null },
    ])).toBe('revoked');
  });
});
