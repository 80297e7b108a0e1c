// A replica that shuts down cleanly (SIGTERM, as in every rolling update) tells the others it is
// leaving on the heartbeat subject: they forget it at once and log `replica.left` at info, instead
// of warning `replica.gone … stopped heartbeating` a few intervals later.
//
// "No replica.gone warning for the leaver" is checked after a barrier, not a sleep: a third replica
// killed with SIGKILL after the leaver exited must be declared gone, which proves the survivor's
// sweep ran past the moment the leaver would have been declared gone too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KpcHandle } from '../support/kpc-process.js';
import { type Stack, startStack } from '../support/stack.js';

const cluster = { kaa: { kpc: { cluster: { 'heartbeat-interval': '200ms', 'missed-heartbeats': 3 } } } };

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ noKpc: true, users: ['leave-user'], tokens: 1 });
});

afterAll(async () => {
  await stack?.stop();
});

const lineAbout = (event: string, replica: KpcHandle) => new RegExp(`"event":"${event.replace('.', '\\.')}".*"replica":"${replica.replicaId}"`);

describe('a replica that shuts down cleanly', () => {
  it('is forgotten by the others at once, with an info line and no replica.gone warning', async () => {
    const survivor = await stack.startKpc({ config: cluster });
    const leaver = await stack.startKpc({ config: cluster });
    const client = await stack.connect(leaver, 'leave-user');
    await stack.speakFor(leaver, client, 'token-1');
    // The survivor knows the leaver (it heard a heartbeat and asked for its endpoints) before it goes.
    await survivor.waitForLog(lineAbout('cluster.learned', leaver));

    expect(await leaver.stop('SIGTERM')).toBe(0);
    const left = JSON.parse(await survivor.waitForLog(lineAbout('replica.left', leaver))) as { level: string };
    expect(left.level).toBe('info');

    const killed = await stack.startKpc({ config: cluster });
    await survivor.waitForLog(lineAbout('cluster.learned', killed));
    expect(await killed.stop('SIGKILL')).toBeNull();
    await survivor.waitForLog(lineAbout('replica.gone', killed));

    expect(survivor.logs.filter((line) => lineAbout('replica.gone', leaver).test(line))).toEqual([]);
    await survivor.stop();
  });
});
