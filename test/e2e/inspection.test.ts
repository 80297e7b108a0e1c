// Event sourcing and the management API, end to end: every session of a run — accepted, roamed,
// token-revoked, credential-revoked, refused, disconnected by an operator, closed — is listed, and
// folding its journal through the pure transition() (here, in the test, independently of the
// service) gives exactly the state the service reports for it.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyStateMachine } from 'xstate';
import type { MqttClient } from 'mqtt';
import { clientSessionMachine } from '../../src/machines/client-session.machine.js';
import { endpointSessionMachine } from '../../src/machines/endpoint-session.machine.js';
import { replayJournal, type JournalEntry } from '../../src/actors/session/journal.js';
import type { SessionDetails, SessionJournalFile, SessionSummary } from '../../src/actors/registry/session-inspection.js';
import { waitUntil } from '../support/waiting.js';
import { connectClient, kpTopic, TestClient } from '../support/mqtt.js';
import { APP_VERSION, DEVICE, ECHO, GATEWAY, type Stack, startStack } from '../support/stack.js';

const ADMIN_TOKEN = 'admin-secret-token-4711';

let stack: Stack;
const clients: MqttClient[] = [];

beforeAll(async () => {
  stack = await startStack({ kpcConfig: { server: { 'admin-token': ADMIN_TOKEN } } });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.endAsync(true)));
  await stack?.stop();
});

async function admin(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${stack.kpc.httpUrl}${path}`, { ...init, headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, ...init.headers } });
}

async function session(mqttClientId: string): Promise<SessionDetails> {
  const response = await admin(`/sessions/${encodeURIComponent(mqttClientId)}`);
  expect(response.status, `GET /sessions/${mqttClientId}`).toBe(200);
  return (await response.json()) as SessionDetails;
}

async function connect(clientId: string, user: { username: string; password: string }): Promise<TestClient> {
  const client = await connectClient(stack.kpc.mqttUrl, { clientId, ...user });
  clients.push(client);
  return new TestClient(client);
}

/** Folds a whole journal (nothing dropped) through the chart with transition(). */
function fold(machine: AnyStateMachine, journal: readonly JournalEntry[]) {
  expect(journal[0]?.event.type).toBe('xstate.init');
  const outcome = replayJournal(machine, { machine: machine.id, actorId: 'test', dropped: 0, base: null, entries: journal });
  if (!outcome.ok) throw new Error(`replay failed at step ${outcome.failed.index}: ${outcome.reason}`);
  return outcome.snapshot;
}

describe('session journals and the management API', () => {
  it('refuses the inspection routes without the admin token', async () => {
    expect((await fetch(`${stack.kpc.httpUrl}/sessions`)).status).toBe(401);
    expect((await fetch(`${stack.kpc.httpUrl}/sessions`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
  });

  it('replays every session of a run, live and ended, to the state the service reports', async () => {
    const { token, endpointId } = stack.newToken('shared');
    const revocable = stack.newToken('revocable');
    stack.credentials.users['doomed-user'] = { password: 'doomed-password', credentialId: 'cred-doomed' };

    // A speaks for the endpoint, then B takes it over: A's endpoint session is roamed.
    const a = await connect('inspect-a', DEVICE);
    await a.request(kpTopic(APP_VERSION, ECHO, token, 'hello', 1), 'a');
    const b = await connect('inspect-b', GATEWAY);
    await b.request(kpTopic(APP_VERSION, ECHO, token, 'hello', 2), 'b');
    await waitUntil(async () => (await session('inspect-a')).endpoints[0]?.state === 'roamed', 'A roamed');

    // B's second endpoint has its token revoked.
    await b.request(kpTopic(APP_VERSION, ECHO, revocable.token, 'hello', 3), 'b2');
    await stack.provider.revokeToken(revocable.endpointId, [`tokid-${revocable.token}`]);
    await waitUntil(async () => (await session('inspect-b')).endpoints.some((e) => e.state === 'revoked'), 'token revoked');

    // C's credential is revoked; D is refused; A is disconnected by an operator; B leaves.
    await connect('inspect-c', { username: 'doomed-user', password: 'doomed-password' });
    await stack.provider.revokeCredential('cred-doomed');
    await waitUntil(async () => (await session('inspect-c')).state === 'revoked', 'C revoked');
    await expect(connectClient(stack.kpc.mqttUrl, { clientId: 'inspect-d', username: 'nobody', password: 'x' })).rejects.toMatchObject({ code: 4 });
    expect((await admin('/sessions/inspect-a', { method: 'DELETE' })).status).toBe(200);
    await waitUntil(async () => (await session('inspect-a')).state === 'closed', 'A closed');
    expect((await admin('/sessions/inspect-a', { method: 'DELETE' })).status).toBe(404);

    const { live, ended } = (await (await admin('/sessions')).json()) as { live: SessionSummary[]; ended: SessionSummary[] };
    expect(live.map((s) => s.mqttClientId)).toContain('inspect-b');
    expect(ended.map((s) => `${s.mqttClientId}:${s.state}`)).toEqual(
      expect.arrayContaining(['inspect-a:closed', 'inspect-c:revoked', 'inspect-d:rejected']),
    );

    const seen = new Set<string>();
    for (const id of ['inspect-a', 'inspect-b', 'inspect-c', 'inspect-d']) {
      const details = await session(id);
      const replayed = fold(clientSessionMachine, details.journal);
      expect(replayed.value, `${id} replays to its reported state`).toBe(details.state);
      expect(replayed.context.credentialIds).toEqual(details.credentialIds);
      expect(replayed.context.endReason).toBe(details.endReason);
      seen.add(details.state);
      for (const endpoint of details.endpoints) {
        const replayedEndpoint = fold(endpointSessionMachine, endpoint.journal);
        expect(replayedEndpoint.value, `${endpoint.actorId} replays to its reported state`).toBe(endpoint.state);
        expect(replayedEndpoint.context.endpointId).toBe(endpoint.endpointId);
        for (const entry of endpoint.journal) seen.add(`endpoint:${entry.state}`);
      }
    }
    // Every client ending and every endpoint state this run went through was replayed.
    expect([...seen]).toEqual(expect.arrayContaining([
      'active', 'closed', 'revoked', 'rejected', 'endpoint:identifying', 'endpoint:active', 'endpoint:roamed', 'endpoint:revoked', 'endpoint:closed',
    ]));

    // The administrative disconnect is on record in A's journal.
    expect((await session('inspect-a')).journal.map((entry) => entry.event.type)).toContain('admin.disconnected');

    // Which session and replica hold the endpoint now: B, on this replica.
    const holder = (await (await admin(`/endpoints/${endpointId}`)).json()) as { heldHere: boolean; replicaId: string; sessions: Array<{ mqttClientId: string; state: string }> };
    expect(holder.heldHere).toBe(true);
    expect(holder.replicaId).toBe(stack.kpc.replicaId);
    expect(holder.sessions).toEqual(expect.arrayContaining([expect.objectContaining({ mqttClientId: 'inspect-b', state: 'active' })]));
  });

  it('never exposes passwords or tokens', async () => {
    // The dev provider names token ids after their tokens (`tokid-<token>`); ids are not secrets, tokens are.
    const body = JSON.stringify(await Promise.all(['inspect-a', 'inspect-b', 'inspect-c'].map(session))).replace(/tokid-[^"]*/g, '');
    for (const secret of [DEVICE.password, GATEWAY.password, 'doomed-password', 'token-1']) expect(body).not.toContain(secret);
    for (const token of Object.keys(stack.credentials.tokens).filter((t) => t.startsWith('shared') || t.startsWith('revocable'))) {
      expect(body).not.toContain(token);
    }
  });

  it('downloads the journals of ended sessions; the replay command confirms each, and fails a tampered one', async () => {
    // inspect-b (accepted, one endpoint roamed in, one token revoked) leaves now: every session of the run has ended.
    await clients.find((client) => client.options.clientId === 'inspect-b')!.endAsync();
    await waitUntil(async () => (await session('inspect-b')).state === 'closed', 'B closed');

    const directory = mkdtempSync(join(tmpdir(), 'kpc-journals-'));
    const replay = (file: string) =>
      promisify(execFile)(process.execPath, ['scripts/replay.mjs', file]).then(
        ({ stdout }) => ({ code: 0, output: stdout }),
        (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: error.stdout + error.stderr }),
      );
    /** Each session's ending, and every state its endpoint sessions went through. */
    const endings: string[] = [];
    for (const id of ['inspect-a', 'inspect-b', 'inspect-c', 'inspect-d']) {
      const response = await admin(`/sessions/${id}/journal`);
      expect(response.status, `GET /sessions/${id}/journal`).toBe(200);
      expect(response.headers.get('content-disposition')).toContain(`${id}.journal.json`);
      const journal = (await response.json()) as SessionJournalFile;
      endings.push(`${id}:${journal.state}`, ...journal.endpoints.flatMap((endpoint) => endpoint.entries.map((entry) => `endpoint:${entry.state}`)));
      const file = join(directory, `${id}.json`);
      writeFileSync(file, JSON.stringify(journal));
      const { code, output } = await replay(file);
      expect(code, `replay of ${id}:\n${output}`).toBe(0);
      expect(output).toContain(`session ${id}: ${journal.state}`);
      expect(output).toContain('every step replays to the state recorded');
    }
    expect(endings).toEqual(expect.arrayContaining([
      'inspect-a:closed', 'inspect-b:closed', 'inspect-c:revoked', 'inspect-d:rejected', 'endpoint:roamed', 'endpoint:revoked',
    ]));
    // The admin disconnect and the refusal's reason are on record.
    const a = (await (await admin('/sessions/inspect-a/journal')).json()) as SessionJournalFile;
    expect(a.client.entries.map((entry) => entry.event.type)).toContain('admin.disconnected');

    // Tampered: B's acceptance recorded as a refusal. The replay names the step and exits 1.
    const b = (await (await admin('/sessions/inspect-b/journal')).json()) as SessionJournalFile;
    const accepted = b.client.entries.findIndex((entry) => entry.event.type === 'ecap.replied');
    b.client.entries[accepted]!.event.statusCode = 401;
    const tampered = join(directory, 'tampered.json');
    writeFileSync(tampered, JSON.stringify(b));
    const { code, output } = await replay(tampered);
    expect(code).toBe(1);
    expect(output).toContain(`step #${accepted} (ecap.replied)`);

    expect((await admin('/sessions/nobody-ever/journal')).status).toBe(404);
    expect((await fetch(`${stack.kpc.httpUrl}/sessions/inspect-a/journal`)).status).toBe(401);
  });
});
