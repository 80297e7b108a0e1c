// Roaming (9/ELCE), pushes and their republishing to the holding replica, one KPC replica: an endpoint announced `connected` by
// another session (here or on another replica) moves the local endpoint session to `roamed`: it
// gets no pushes and announces no `disconnected`; its client speaking for the token again makes it
// active again.
//
// "X did NOT get a message" is checked with barriers, never with a sleep:
// - pushes: the test publishes every push from ONE NATS connection, so KPC handles them in
//   order and writes them to a client's socket in order; once a client has received a later push
//   (to another of its endpoints), an earlier push to it would already be there.
// - ELCE events: KPC publishes them in order on one NATS connection; once a later event of it has
//   been recorded, an earlier one would have been too (see elceBarrier).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecs } from '../../src/infra/nats/codecs.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import { listing } from '../support/elce-recorder.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { within } from '../support/waiting.js';
import { APP_VERSION, type Stack, startStack, tokenTopic } from '../support/stack.js';
import type { ReceivedMessage, TestClient } from '../support/mqtt.js';

const KPC_INSTANCE = 'kpc';
const BARRIER_TOKEN = 'token-20';

let stack: Stack;
let kpc: KpcHandle;

beforeAll(async () => {
  stack = await startStack({ noKpc: true, users: ['alice', 'bob', 'carol', 'dave', 'erin', 'zed'], tokens: 20 });
  kpc = await stack.startKpc();
});

afterAll(async () => {
  await stack?.stop();
});

/** `connected` for `endpointId` as another replica of this KPC instance would announce it. */
async function announceFromOtherReplica(endpointId: string, replicaId: string): Promise<void> {
  const event = codecs.endpointConnected.encode({
    correlationId: randomUUID(),
    timestamp: Date.now(),
    timeout: 0,
    endpoints: { [endpointId]: APP_VERSION },
    originatorReplicaId: replicaId,
  });
  stack.nc.publish(subjects.endpointConnected(KPC_INSTANCE), event);
  await stack.nc.flush();
}

const pushFor = (token: string, marker: string) => (m: ReceivedMessage) =>
  m.topic === `${tokenTopic(token, 'command')}/status` && m.payload.toString() === marker;
const carrying = (client: TestClient, marker: string) => client.messages.filter((m) => m.payload.toString() === marker);

/** Once this returns, every ELCE event KPC published before the call has been recorded. */
async function elceBarrier(): Promise<void> {
  const witness = await stack.connect(kpc, 'zed');
  await stack.speakFor(kpc, witness, BARRIER_TOKEN);
  await witness.end();
}

describe('roaming between local sessions', () => {
  it('a second client speaking for the endpoint takes its pushes; the first leaves without announcing it', async () => {
    const a = await stack.connect(kpc, 'alice');
    const b = await stack.connect(kpc, 'bob');
    await stack.speakFor(kpc, a, 'token-1');
    await stack.speakFor(kpc, a, 'token-2'); // A's own endpoint: the barrier for pushes to A
    await stack.speakFor(kpc, b, 'token-1'); // B announces endpoint-1: A's session for it is roamed

    await stack.push('endpoint-1', 'push-1');
    await b.waitForMessage(pushFor('token-1', 'push-1'), 'push-1 for endpoint-1');
    await stack.push('endpoint-2', 'barrier-1');
    await a.waitForMessage(pushFor('token-2', 'barrier-1'), 'barrier-1 for endpoint-2');
    expect(carrying(a, 'push-1'), 'push for the roamed endpoint delivered to A').toEqual([]);

    const since = stack.elce.mark();
    await a.end();
    const aLeft = await stack.elce.waitFor(listing('disconnected', 'endpoint-2'), 'disconnected endpoint-2 (A left)', { since });
    expect(Object.keys(aLeft.endpoints)).not.toContain('endpoint-1');
    await elceBarrier();
    expect(stack.elce.find(listing('disconnected', 'endpoint-1'), since), 'endpoint-1 announced disconnected when A left').toEqual([]);

    // B still holds endpoint-1: pushes still reach it, and its leaving does announce the endpoint.
    await stack.push('endpoint-1', 'push-2');
    await b.waitForMessage(pushFor('token-1', 'push-2'), 'push-2 for endpoint-1');
    const sinceB = stack.elce.mark();
    await b.end();
    await stack.elce.waitFor(listing('disconnected', 'endpoint-1'), 'disconnected endpoint-1 (B left)', { since: sinceB });
  });

  it('the roamed client speaking for the token again becomes active again and takes the pushes back', async () => {
    const a = await stack.connect(kpc, 'carol');
    const b = await stack.connect(kpc, 'dave');
    await stack.speakFor(kpc, a, 'token-3');
    await stack.speakFor(kpc, a, 'token-4'); // barrier endpoint of A
    await stack.speakFor(kpc, b, 'token-3'); // A roamed
    await stack.speakFor(kpc, b, 'token-5'); // barrier endpoint of B
    await stack.speakFor(kpc, a, 'token-3'); // A active again, announced again: B roamed

    await stack.push('endpoint-3', 'push-3');
    await a.waitForMessage(pushFor('token-3', 'push-3'), 'push-3 for endpoint-3');
    await stack.push('endpoint-5', 'barrier-5');
    await b.waitForMessage(pushFor('token-5', 'barrier-5'), 'barrier-5 for endpoint-5');
    expect(carrying(b, 'push-3'), 'push for endpoint-3 delivered to B after A took it back').toEqual([]);

    const since = stack.elce.mark();
    await b.end();
    const bLeft = await stack.elce.waitFor(listing('disconnected', 'endpoint-5'), 'disconnected endpoint-5 (B left)', { since });
    expect(Object.keys(bLeft.endpoints)).not.toContain('endpoint-3');
    await elceBarrier();
    expect(stack.elce.find(listing('disconnected', 'endpoint-3'), since), 'endpoint-3 announced disconnected when B left').toEqual([]);

    const sinceA = stack.elce.mark();
    await a.end();
    await stack.elce.waitFor(listing('disconnected', 'endpoint-3'), 'disconnected endpoint-3 (A left)', { since: sinceA });
  });
});

describe('roaming to another replica', () => {
  it('a connected event from another replica roams the local holder: no more pushes, no disconnected event', async () => {
    const a = await stack.connect(kpc, 'erin');
    await stack.speakFor(kpc, a, 'token-6');
    await stack.speakFor(kpc, a, 'token-7'); // barrier endpoint of A

    // The event and the pushes leave the same NATS connection: KPC sees the event first.
    await announceFromOtherReplica('endpoint-6', 'other-replica-1');
    await stack.push('endpoint-6', 'push-6');
    await stack.push('endpoint-7', 'barrier-7');
    await a.waitForMessage(pushFor('token-7', 'barrier-7'), 'barrier-7 for endpoint-7');
    expect(carrying(a, 'push-6'), 'push for an endpoint roamed to another replica delivered locally').toEqual([]);

    const since = stack.elce.mark();
    await a.end();
    const aLeft = await stack.elce.waitFor(
      (e) => listing('disconnected', 'endpoint-7')(e) && e.originatorReplicaId === kpc.replicaId,
      'disconnected endpoint-7 (A left)',
      { since },
    );
    expect(Object.keys(aLeft.endpoints)).not.toContain('endpoint-6');
    await elceBarrier();
    expect(stack.elce.find(listing('disconnected', 'endpoint-6'), since), 'endpoint-6 announced disconnected when A left').toEqual([]);
  });

  it('a push for an endpoint another replica announced is republished to that replica', async () => {
    const other = 'other-replica-2';
    const forwarded = stack.nc.subscribe(subjects.replicaExtensionData(other), { max: 1 });
    await announceFromOtherReplica('endpoint-8', other);

    await stack.push('endpoint-8', 'push-8');
    const first = (async () => {
      for await (const msg of forwarded) return msg;
      return undefined;
    })();
    const msg = await within(first, 5_000, `the push for endpoint-8 republished on ${subjects.replicaExtensionData(other)}`).finally(() =>
      forwarded.unsubscribe(),
    );
    const data = codecs.extensionData.decode(msg!.data);
    expect({ endpointId: data.endpointId, payload: data.payload?.toString() }).toEqual({ endpointId: 'endpoint-8', payload: 'push-8' });
  });
});
