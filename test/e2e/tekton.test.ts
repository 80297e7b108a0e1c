// Routing configuration from Tekton (17/SCMP): the applications tree is read from Tekton's
// app-configs at start and again on every configuration event; changes apply to the next request
// without dropping connections; a failing re-fetch keeps the last good tree, shows on /health and
// is retried; Tekton unavailable at start stops KPC with a message naming its URL.
// Tekton is an HTTP stand-in (test/support/tekton-stand-in.ts); the rest is the real stack.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { codecs } from '../../src/infra/nats/codecs.js';
import { getFreePort } from '../../dev/ports.js';
import { waitForExit } from '../../dev/child-cleanup.js';
import { startKpc, type KpcHandle } from '../support/kpc-process.js';
import { TektonStandIn } from '../support/tekton-stand-in.js';
import { waitUntil, within } from '../support/waiting.js';
import { DEVICE, ECHO, ECHO_UNAWARE, type Stack, startStack } from '../support/stack.js';
import { connectAs, errorBody, kpTopic, TestClient } from '../support/mqtt.js';

const INSTANCE = 'kpc'; // service.instance.name (the default)
const APP = 'tekton_app';

/** An app-configs body: one application whose versions allow the given extension instances. */
function appConfigs(versions: Record<string, string[]>): Record<string, unknown> {
  return {
    [APP]: {
      versions: Object.fromEntries(Object.entries(versions).map(([version, allowed]) => [version, { 'allowed-extension-instances': allowed }])),
    },
  };
}

let standIn: TektonStandIn;
let stack: Stack;
let kpc: KpcHandle;
let nextRequestId = 1;

beforeAll(async () => {
  // The file keeps the default test applications (demo_application_v1): with Tekton on they must be ignored.
  stack = await startStack({ tekton: { [INSTANCE]: appConfigs({ tekton_v1: [ECHO], tekton_v2: [ECHO] }) } });
  standIn = stack.tekton!;
  kpc = stack.kpc;
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

// ---- helpers ----

const appConfigsUrl = () => `${standIn.url}/api/v1/service-instances/${INSTANCE}/app-configs`;

async function publishBroadcast(action: 'upsert' | 'delete', event: { appName?: string; appVerName?: string } = {}): Promise<void> {
  stack.nc.publish(
    `kaa.v1.events.tekton.service.configuration.${action}`,
    codecs.broadcastConfigurationUpdate.encode({
      correlationId: randomUUID(), timestamp: Date.now(), originatorReplicaId: 'tekton-1',
      tenantID: null, appName: event.appName ?? null, appVerName: event.appVerName ?? null,
    }),
  );
  await stack.nc.flush();
}

async function publishTargeted(action: 'upsert' | 'delete'): Promise<void> {
  stack.nc.publish(
    `kaa.v1.service.${INSTANCE}.scmp.configuration.${action}`,
    codecs.serviceConfigurationUpdate.encode({ correlationId: randomUUID(), timestamp: Date.now(), tenantID: 'tenant-1', appName: APP, appVerName: null }),
  );
  await stack.nc.flush();
}

/** The first KPC log line from index `since` on that contains every one of `parts`. */
function logSince(since: number, ...parts: string[]): Promise<string> {
  return waitUntil(() => kpc.logs.slice(since).find((line) => parts.every((part) => line.includes(part))), `a KPC log line with ${parts.join(' and ')}`, {
    timeoutMs: 10_000,
    detail: () => kpc.logs.slice(-20).join('\n'),
  });
}

/**
 * Serves `body` from the stand-in, runs `trigger` (publishes an event), and waits until KPC logs
 * the routing change; returns the log line, parsed.
 */
async function changeConfig(body: Record<string, unknown>, trigger: () => Promise<void>): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
  const since = kpc.logs.length;
  standIn.configs[INSTANCE] = body;
  await trigger();
  return JSON.parse(await logSince(since, '"event":"routing.changed"')) as { added: string[]; removed: string[]; changed: string[] };
}

async function health(): Promise<{ status: number; body: { status: string; problems?: string[] } }> {
  const response = await fetch(`${kpc.httpUrl}/health`, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as { status: string; problems?: string[] } };
}

/** A client whose connection must survive the whole test: `assertStillOpen` checks it never closed. */
async function longLivedClient(): Promise<{ inbox: TestClient; client: MqttClient; assertStillOpen(): void }> {
  const client = await connectAs(kpc, DEVICE);
  let closes = 0;
  client.on('close', () => closes++);
  return {
    inbox: new TestClient(client),
    client,
    assertStillOpen() {
      expect(closes, 'the MQTT connection closed').toBe(0);
      expect(client.connected).toBe(true);
    },
  };
}

/** Sends one request on `version`/`instance` and returns the response topic suffix and payload. */
async function ask(inbox: TestClient, version: string, instance: string, token: string): Promise<{ outcome: 'status' | 'error'; body: unknown }> {
  const levels = instance === ECHO ? [version, instance, token, 'data', nextRequestId++] : [version, instance, 'data', nextRequestId++];
  const topic = kpTopic(...levels);
  const response = await inbox.request(topic, 'hello');
  const outcome = response.topic === `${topic}/status` ? 'status' : 'error';
  return { outcome, body: outcome === 'status' ? response.payload.toString() : errorBody(response) };
}

const works = { outcome: 'status', body: 'hello' };
const unknownVersion = (version: string) => ({ outcome: 'error', body: { statusCode: 404, reasonPhrase: `Unknown application version '${version}'` } });
const notAllowed = (instance: string, version: string) => ({
  outcome: 'error',
  body: { statusCode: 403, reasonPhrase: `Extension instance '${instance}' is not allowed for '${version}'` },
});

// ---- tests ----

describe('routing configuration from Tekton', () => {
  it('reads the applications from Tekton at start-up instead of the file', async () => {
    expect(standIn.appConfigRequests(INSTANCE).length).toBeGreaterThanOrEqual(1);
    expect(standIn.appConfigRequests(INSTANCE)[0]).toMatchObject({ method: 'GET', path: `/api/v1/service-instances/${INSTANCE}/app-configs` });
    const { inbox, client } = await longLivedClient();
    try {
      const { token } = stack.newToken();
      expect(await ask(inbox, 'tekton_v1', ECHO, token)).toEqual(works); // a version only Tekton knows
      expect(await ask(inbox, 'demo_application_v1', ECHO, token)).toEqual(unknownVersion('demo_application_v1')); // the file's
      expect((await health()).status).toBe(200);
    } finally {
      await client.endAsync();
    }
  });

  it('applies a broadcast upsert at once, on the same MQTT connection: newly allowed instance works, removed version is 404', async () => {
    standIn.configs[INSTANCE] = appConfigs({ tekton_v1: [ECHO], tekton_v2: [ECHO] });
    const { inbox, client, assertStillOpen } = await longLivedClient();
    try {
      const { token } = stack.newToken();
      expect(await ask(inbox, 'tekton_v1', ECHO, token)).toEqual(works);
      expect(await ask(inbox, 'tekton_v1', ECHO_UNAWARE, token)).toEqual(notAllowed(ECHO_UNAWARE, 'tekton_v1'));
      expect(await ask(inbox, 'tekton_v2', ECHO, token)).toEqual(works);

      const change = await changeConfig(appConfigs({ tekton_v1: [ECHO, ECHO_UNAWARE] }), () => publishBroadcast('upsert'));
      expect(change).toMatchObject({ added: [], removed: ['tekton_v2'], changed: ['tekton_v1'] });

      expect(await ask(inbox, 'tekton_v1', ECHO_UNAWARE, token)).toEqual(works);
      expect(await ask(inbox, 'tekton_v2', ECHO, token)).toEqual(unknownVersion('tekton_v2'));
      expect(await ask(inbox, 'tekton_v1', ECHO, token)).toEqual(works);
      assertStillOpen();
    } finally {
      await client.endAsync();
    }
  });

  it('re-fetches on targeted upsert/delete and on broadcast delete naming one version', async () => {
    const { inbox, client, assertStillOpen } = await longLivedClient();
    try {
      const { token } = stack.newToken();
      expect(await ask(inbox, 'tekton_v3', ECHO, token)).toEqual(unknownVersion('tekton_v3'));

      const added = await changeConfig(appConfigs({ tekton_v1: [ECHO, ECHO_UNAWARE], tekton_v3: [ECHO] }), () => publishTargeted('upsert'));
      expect(added).toMatchObject({ added: ['tekton_v3'], removed: [] });
      expect(await ask(inbox, 'tekton_v3', ECHO, token)).toEqual(works);

      const removed = await changeConfig(appConfigs({ tekton_v1: [ECHO, ECHO_UNAWARE] }), () => publishTargeted('delete'));
      expect(removed).toMatchObject({ removed: ['tekton_v3'] });
      expect(await ask(inbox, 'tekton_v3', ECHO, token)).toEqual(unknownVersion('tekton_v3'));

      const narrowed = await changeConfig(appConfigs({ tekton_v1: [ECHO] }), () => publishBroadcast('delete', { appName: APP, appVerName: 'tekton_v1' }));
      expect(narrowed).toMatchObject({ changed: ['tekton_v1'] });
      expect(await ask(inbox, 'tekton_v1', ECHO_UNAWARE, token)).toEqual(notAllowed(ECHO_UNAWARE, 'tekton_v1'));
      expect(await ask(inbox, 'tekton_v1', ECHO, token)).toEqual(works);
      assertStillOpen();
    } finally {
      await client.endAsync();
    }
  });

  it('coalesces a burst of events: one fetch in flight, at most one queued', async () => {
    const settled = (count: number) => () => standIn.appConfigRequests(INSTANCE).length >= count && standIn.pending === 0;
    standIn.delayMs = 300; // every event of the burst arrives while the first fetch is in flight
    try {
      const before = standIn.appConfigRequests(INSTANCE).length;
      for (let i = 0; i < 20; i++) await publishBroadcast(i % 2 === 0 ? 'upsert' : 'delete');
      await waitUntil(settled(before + 2), 'two fetches after the burst', { timeoutMs: 10_000 });
      // A marker event: its fetch comes after anything the burst could still have queued.
      await publishTargeted('upsert');
      await waitUntil(settled(before + 3), 'the fetch for the marker event', { timeoutMs: 10_000 });
      expect(standIn.appConfigRequests(INSTANCE).length).toBe(before + 3);
    } finally {
      standIn.delayMs = 0;
    }
  });

  it('keeps the last good configuration while re-fetches fail, reports it on /health, and recovers', async () => {
    const { inbox, client, assertStillOpen } = await longLivedClient();
    try {
      const { token } = stack.newToken();
      standIn.configs[INSTANCE] = appConfigs({ tekton_v1: [ECHO] });
      const problemMatching = async (pattern: RegExp) =>
        waitUntil(async () => {
          const { status, body } = await health();
          return status === 500 && body.problems?.find((problem) => pattern.test(problem));
        }, `a /health problem matching ${pattern}`, { timeoutMs: 15_000, intervalMs: 100 });

      const since = kpc.logs.length;
      standIn.mode = 'error';
      await publishBroadcast('upsert');
      const url = appConfigsUrl().replace(/[.?]/g, '\\$&');
      const first = await problemMatching(new RegExp(`^Tekton configuration re-fetch failing since (\\S+): Tekton at ${url} answered HTTP 500`));
      const failingSince = /since (\S+):/.exec(first)![1];
      const warning = JSON.parse(await logSince(since, '"event":"tekton.refetch.failed"'));
      expect(warning).toMatchObject({ level: 'warn', reason: expect.stringContaining('HTTP 500') });

      // The last good configuration still routes, on the same connection.
      expect(await ask(inbox, 'tekton_v1', ECHO, token)).toEqual(works);

      // Retried with backoff: each retry meets the stand-in's current failure.
      standIn.mode = 'garbage';
      const second = await problemMatching(/answered invalid JSON/);
      standIn.mode = 'hang';
      const third = await problemMatching(/did not answer within 1000 ms/);
      for (const problem of [second, third]) expect(problem).toContain(`failing since ${failingSince}:`);
      expect(await ask(inbox, 'tekton_v1', ECHO, token)).toEqual(works);

      // Healthy again, with a new tree: the next retry applies it and clears the problem.
      standIn.configs[INSTANCE] = appConfigs({ tekton_v1: [ECHO], tekton_v5: [ECHO_UNAWARE] });
      standIn.mode = 'ok';
      await waitUntil(async () => (await health()).status === 200, '/health 200 after Tekton recovered', { timeoutMs: 20_000, intervalMs: 100 });
      expect(await ask(inbox, 'tekton_v5', ECHO_UNAWARE, token)).toEqual(works);
      expect(await ask(inbox, 'tekton_v1', ECHO, token)).toEqual(works);
      assertStillOpen();
    } finally {
      standIn.mode = 'ok';
      await client.endAsync();
    }
  }, 60_000);
});

describe('Tekton unavailable at start-up', () => {
  /** Starts a KPC against `url`; resolves with its exit code and its fatal log line, which must name `named`. */
  async function startAgainst(url: string, named: string): Promise<{ code: number | null; line: string }> {
    const other = await startKpc({
      natsUrls: [stack.nats.url],
      config: { kaa: { tekton: { enabled: true, url, timeout: '1s' } } },
      expectHealthy: false,
    });
    try {
      const code = await within(waitForExit(other.process), 15_000, 'KPC exit');
      const line = await other.waitForLog('"event":"routing.unavailable"', 5_000);
      expect(JSON.parse(line)).toMatchObject({ level: 'fatal', msg: expect.stringContaining(named) });
      return { code, line };
    } finally {
      await other.stop('SIGKILL');
    }
  }

  it('exits non-zero naming the URL when nothing listens there', async () => {
    const url = `http://127.0.0.1:${await getFreePort()}`;
    const { code, line } = await startAgainst(url, `${url}/api/v1/service-instances/${INSTANCE}/app-configs`);
    expect(code).toBe(1);
    expect(line).toContain('within 1000 ms');
  });

  it.each([
    ['hangs', (s: TektonStandIn) => (s.mode = 'hang'), 'did not answer within'],
    ['answers HTTP 503', (s: TektonStandIn) => ((s.mode = 'error'), (s.errorStatus = 503)), 'answered HTTP 503'],
    ['answers an invalid tree', (s: TektonStandIn) => (s.configs[INSTANCE] = { app: { versions: ['v1'] } }), "'app-configs.app.versions' must be a mapping"],
  ])('exits non-zero naming the URL when Tekton %s', async (_case, breakIt, reason) => {
    const broken = await TektonStandIn.start({ [INSTANCE]: appConfigs({ v1: [ECHO] }) });
    try {
      breakIt(broken);
      const { code, line } = await startAgainst(broken.url, `${broken.url}/api/v1/service-instances/${INSTANCE}/app-configs`);
      expect(code).toBe(1);
      expect(line).toContain(reason);
    } finally {
      await broken.stop();
    }
  });
});
