// Session journals: written as a session steps its chart, bounded, and replayable through the pure
// chart from their start or, once old entries were dropped, from the base snapshot they left.
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type EventObject } from 'xstate';
import { Journal, replayJournal } from '../../src/actors/session/journal.js';
import { endpointSessionMachine, type EndpointSessionEvent, type EndpointSessionInput } from '../../src/machines/endpoint-session.machine.js';

const input: EndpointSessionInput = {
  sessionId: 'e1', appName: 'app', appVersionName: 'v1', tokenHash: 'h', identificationTimeoutMs: 1000, negativeCacheMs: 1000, maxHeldMessages: 5,
};

/** The endpoint chart stepped as a session steps it, each event journaled with the state it led to. */
function journaledChart(capacity: number) {
  const journal = new Journal(capacity, endpointSessionMachine, 'e1');
  let [snapshot] = initialTransition(endpointSessionMachine, input);
  journal.record({ type: 'xstate.init', input }, snapshot.value);
  const send = (event: EndpointSessionEvent | EventObject) => {
    [snapshot] = transition(endpointSessionMachine, snapshot, event as EndpointSessionEvent);
    journal.record(event as EndpointSessionEvent, snapshot.value);
  };
  return { journal, send, state: () => snapshot.value };
}

const accepted: EndpointSessionEvent = { type: 'ecap.replied', statusCode: 200, endpointId: 'ep-1', tokenId: 'tok-1', reasonPhrase: null };

describe('session journal', () => {
  it('records each event with the state it led to; PUBLISHes keep no payload and repeated ones share an entry', () => {
    const { journal, send } = journaledChart(16);
    send({ type: 'kp.published', message: { payload: Buffer.from('secret payload') } });
    send(accepted);
    for (let i = 0; i < 1000; i++) send({ type: 'kp.published', message: { payload: Buffer.from('more') } });
    send({ type: 'elce.connected', originatorReplicaId: 'r2' });
    expect(journal.list().map((entry) => [entry.event.type, entry.state, entry.repeat])).toEqual([
      ['xstate.init', 'identifying', undefined],
      ['kp.published', 'identifying', undefined],
      ['ecap.replied', 'active', undefined],
      ['kp.published', 'active', 1000],
      ['elce.connected', 'roamed', undefined],
    ]);
    expect(JSON.stringify(journal.toJSON())).not.toContain('payload');
    expect(replayJournal(endpointSessionMachine, journal.toJSON())).toMatchObject({ ok: true, steps: 5 });
  });

  it('keeps at most its capacity; dropped entries fold into a base snapshot the replay starts from', () => {
    const { journal, send, state } = journaledChart(3);
    send(accepted);
    send({ type: 'elce.connected', originatorReplicaId: 'r2' });
    send({ type: 'kp.published' }); // roamed → active again
    send({ type: 'token.revoked', tokenIds: ['tok-1'] });
    const record = journal.toJSON();
    expect(record.entries).toHaveLength(3);
    expect(record.dropped).toBe(2);
    expect(record.base).toMatchObject({ value: 'active', context: { endpointId: 'ep-1', tokenId: 'tok-1' } });
    const outcome = replayJournal(endpointSessionMachine, JSON.parse(JSON.stringify(record)));
    expect(outcome.ok && outcome.snapshot.value).toBe('revoked');
    expect(state()).toBe('revoked');
  });

  it('records a timer like any other event (here: the identification timeout), and replays it', () => {
    const { journal, send } = journaledChart(8);
    send({ type: 'xstate.after.identificationTimeout.endpointSession.identifying' });
    expect(journal.list().map((entry) => [entry.event.type, entry.state])).toEqual([
      ['xstate.init', 'identifying'],
      ['xstate.after.identificationTimeout.endpointSession.identifying', 'unavailable'],
    ]);
    expect(replayJournal(endpointSessionMachine, journal.toJSON()).ok).toBe(true);
  });

  it('names the first step whose recorded state the chart does not reach', () => {
    const { journal, send } = journaledChart(8);
    send(accepted);
    send({ type: 'token.revoked', tokenIds: ['tok-1'] });
    const record = JSON.parse(JSON.stringify(journal.toJSON()));
    record.entries[2].event.tokenIds = ['another-token']; // tampered: this revocation does not concern the session
    const outcome = replayJournal(endpointSessionMachine, record);
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && [outcome.failed.index, outcome.reason]).toEqual([2, 'recorded "revoked", the chart reaches "active"']);
  });

  it('records event and state at once, with their exact times', () => {
    const journal = new Journal(2, endpointSessionMachine, 'e1');
    const at = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    journal.record({ type: 'xstate.init', input }, 'identifying', at);
    journal.record({ type: 'kp.published', message: { payload: Buffer.from('x') } }, 'identifying', at + 1);
    journal.record(accepted, 'active', at + 2);
    journal.record({ type: 'kp.published' }, 'active', at + 3);
    journal.record({ type: 'kp.published' }, 'active', at + 4);
    expect(journal.toJSON()).toMatchObject({
      dropped: 2,
      base: { value: 'identifying', context: { heldMessages: 1 } },
      entries: [
        { at: at + 2, event: accepted, state: 'active' },
        { at: at + 3, event: { type: 'kp.published' }, state: 'active', repeat: 2 },
      ],
    });
    expect(replayJournal(endpointSessionMachine, journal.toJSON())).toMatchObject({ ok: true, steps: 2 });
  });
});
