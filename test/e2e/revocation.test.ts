// Revocation events from the 16/ECAP provider, published by the dev provider exactly as
// a credential management service would: a revoked credential closes the connections holding it;
// a revoked token ends only that endpoint session, and the token is validated again on next use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listing } from '../support/elce-recorder.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { connackCode, type ReceivedMessage, type TestClient } from '../support/mqtt.js';
import { passwordOf, type Stack, startStack, tokenTopic } from '../support/stack.js';

let stack: Stack;
let kpc: KpcHandle;

beforeAll(async () => {
  stack = await startStack({ noKpc: true, users: ['alice', 'bob', 'carol'], tokens: 6 });
  kpc = await stack.startKpc();
});

afterAll(async () => {
  await stack?.stop();
});

/** A request with `token` answered by the echo extension on `/status`. */
async function expectEcho(client: TestClient, token: string, requestId: number): Promise<void> {
  const topic = tokenTopic(token, 'data', requestId);
  const payload = `${client.name} ${token} #${requestId}`;
  const answer = await client.request(topic, payload);
  expect({ topic: answer.topic, payload: answer.payload.toString() }).toEqual({ topic: `${topic}/status`, payload });
}

describe('credential revocation', () => {
  it('closes the connection holding the credential, announces its endpoints, and refuses it afterwards', async () => {
    const alice = await stack.connect(kpc, 'alice');
    const bob = await stack.connect(kpc, 'bob');
    await stack.speakFor(kpc, alice, 'token-1');
    await stack.speakFor(kpc, bob, 'token-2');

    const since = stack.elce.mark();
    await stack.provider.revokeCredential('cred-alice');

    await alice.waitForClose();
    const gone = await stack.elce.waitFor(listing('disconnected', 'endpoint-1'), 'disconnected endpoint-1 (alice revoked)', { since });
    expect(Object.keys(gone.endpoints)).not.toContain('endpoint-2');

    // Bob holds another credential: still connected, still served.
    await expectEcho(bob, 'token-2', 2);
    expect(bob.isClosed).toBe(false);
    expect(stack.elce.find(listing('disconnected', 'endpoint-2'), since)).toEqual([]);

    // The provider no longer knows alice: she must authenticate again, and is refused.
    expect(await connackCode(kpc.mqttUrl, { username: 'alice', password: passwordOf('alice') })).toBe(4);
  });
});

describe('token revocation', () => {
  it('ends only that endpoint session; the connection stays and the token is validated again on next use', async () => {
    const carol = await stack.connect(kpc, 'carol');
    await stack.speakFor(kpc, carol, 'token-3');
    await stack.speakFor(kpc, carol, 'token-4');
    expect(stack.provider.tokenRequestCounts.get('token-3')).toBe(1);

    const since = stack.elce.mark();
    await stack.provider.revokeToken('endpoint-3', ['tokid-token-3']);
    const gone = await stack.elce.waitFor(listing('disconnected', 'endpoint-3'), 'disconnected endpoint-3 (token revoked)', { since });
    expect(Object.keys(gone.endpoints)).not.toContain('endpoint-4');

    // Removed from routing: a push to endpoint-3 no longer reaches carol (push-4 is the barrier).
    await stack.push('endpoint-3', 'push-3');
    await stack.push('endpoint-4', 'push-4');
    await carol.waitForMessage((m) => m.payload.toString() === 'push-4', 'push-4 for endpoint-4');
    expect(carol.messages.filter((m) => m.payload.toString() === 'push-3'), 'push for the revoked endpoint delivered').toEqual([]);

    // The next message with the revoked token asks ECAP again, which now refuses it.
    const topic = tokenTopic('token-3', 'data', 7);
    const refused: ReceivedMessage = await carol.request(topic, 'after revocation');
    expect(refused.topic).toBe(`${topic}/error`);
    expect(JSON.parse(refused.payload.toString())).toMatchObject({ statusCode: 403 });
    expect(stack.provider.tokenRequestCounts.get('token-3')).toBe(2);

    // The client's other token is untouched: no new ECAP request, still served.
    await expectEcho(carol, 'token-4', 8);
    expect(stack.provider.tokenRequestCounts.get('token-4')).toBe(1);
    expect(carol.isClosed).toBe(false);
  });
});
