// Tekton routing source (17/SCMP): validation of Tekton's app-configs (the same validator
// as the file's kaa.applications), the HTTP client's errors, and the re-fetch rules — coalescing,
// exponential backoff with jitter, keeping the last good tree — with fake timers and fake NATS.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseApplications } from '../../src/infra/config/routing.js';
import { appConfigsUrl, fetchAppConfigs, parseAppConfigs, redactUrl, type Applications } from '../../src/infra/tekton/tekton-client.js';
import { backoffDelay, canonicalApplications, TektonRoutingSource } from '../../src/infra/tekton/tekton-routing-source.js';
import { describeChange } from '../../src/main/routing-source.js';
import { ThrottledLog } from '../../src/infra/log-throttle.js';
import { UndecodableMessages } from '../../src/infra/nats/undecodable-messages.js';
import { getFreePort } from '../../dev/ports.js';
import { FakeScmpNats, recordingLogger, broadcastEvent, targetedEvent } from '../support/fake-scmp-nats.js';
import { TektonStandIn } from '../support/tekton-stand-in.js';

const tree = (versions: Record<string, string[]>, app = 'app'): Applications =>
  parseApplications({ [app]: { versions: Object.fromEntries(Object.entries(versions).map(([v, allowed]) => [v, { 'allowed-extension-instances': allowed }])) } });

describe('app-configs validation (same validator as kaa.applications)', () => {
  const url = 'http://tekton/x';

  it('accepts the kaa.applications shape and returns it typed', () => {
    const parsed = parseAppConfigs(JSON.stringify({ demo: { versions: { v1: { 'allowed-extension-instances': ['dcx', 'dcx', 'epr'] }, v2: {} } }, empty: {} }), url);
    expect(JSON.parse(JSON.stringify(parsed))).toEqual({
      demo: { versions: { v1: { allowedExtensionInstances: ['dcx', 'epr'] }, v2: { allowedExtensionInstances: [] } } },
      empty: { versions: {} },
    });
    expect(parseAppConfigs('{}', url)).toEqual({});
  });

  it.each([
    ['not JSON', '{"a":', /^Tekton at http:\/\/tekton\/x answered invalid JSON: /],
    ['a list', '[]', 'answered invalid app-configs: expected a JSON object of applications, got a list'],
    ['null', 'null', 'expected a JSON object of applications, got null'],
    ['a string', '"x"', 'got a string'],
    ['versions as a list', '{"a":{"versions":["v1"]}}', "'app-configs.a.versions' must be a mapping, got a list"],
    ['allowed instances not a list', '{"a":{"versions":{"v1":{"allowed-extension-instances":"dcx"}}}}', "'app-configs.a.versions.v1.allowed-extension-instances' must be a list"],
    ['a bad instance name', '{"a":{"versions":{"v1":{"allowed-extension-instances":["d/x"]}}}}', "'app-configs.a.versions.v1.allowed-extension-instances[0]' must be a non-empty name"],
    ['a bad version name', '{"a":{"versions":{"v.1":{}}}}', "'app-configs.a.versions.v.1' must be a non-empty name"],
    ['a version in two applications', '{"a":{"versions":{"v1":{}}},"b":{"versions":{"v1":{}}}}', 'application version name "v1" is used by both'],
  ])('refuses %s with a message naming the place', (_case, body, expected) => {
    let message = '';
    try {
      parseAppConfigs(body, url);
    } catch (error) {
      message = (error as Error).message;
    }
    if (typeof expected === 'string') expect(message).toContain(expected);
    else expect(message).toMatch(expected);
    expect(message).toContain('Tekton at http://tekton/x');
    expect(message).not.toContain('Invalid configuration:');
  });

  it('keeps the file validation messages unchanged', () => {
    expect(() => parseApplications({ a: { versions: [] } })).toThrow("Invalid configuration: 'kaa.applications.a.versions' must be a mapping, got a list");
  });

  it('builds the app-configs URL and hides credentials', () => {
    expect(appConfigsUrl('http://tekton:8080/', 'kpc')).toBe('http://tekton:8080/api/v1/service-instances/kpc/app-configs');
    expect(appConfigsUrl('https://t/base', 'kpc-2')).toBe('https://t/base/api/v1/service-instances/kpc-2/app-configs');
    expect(redactUrl('http://user:pw@t/x')).toBe('http://***@t/x');
  });
});

describe('fetchAppConfigs over HTTP', () => {
  let standIn: TektonStandIn;
  beforeEach(async () => {
    standIn = await TektonStandIn.start({ kpc: { demo: { versions: { v1: { 'allowed-extension-instances': ['dcx'] } } } } });
  });
  afterEach(async () => {
    await standIn.stop();
  });
  const url = () => appConfigsUrl(standIn.url, 'kpc');

  it('returns the validated tree', async () => {
    expect((await fetchAppConfigs(url(), 1_000)).demo!.versions.v1!.allowedExtensionInstances).toEqual(['dcx']);
    expect(standIn.requests).toEqual([{ method: 'GET', path: '/api/v1/service-instances/kpc/app-configs', instance: 'kpc', answered: 'ok' }]);
  });

  it('names the HTTP status, a timeout, garbage and an unknown instance', async () => {
    standIn.mode = 'error';
    await expect(fetchAppConfigs(url(), 1_000)).rejects.toThrow(`Tekton at ${url()} answered HTTP 500 Internal Server Error`);
    standIn.mode = 'hang';
    await expect(fetchAppConfigs(url(), 200)).rejects.toThrow(`Tekton at ${url()} did not answer within 200 ms`);
    standIn.mode = 'garbage';
    await expect(fetchAppConfigs(url(), 1_000)).rejects.toThrow('answered invalid JSON');
    standIn.mode = 'ok';
    await expect(fetchAppConfigs(appConfigsUrl(standIn.url, 'other'), 1_000)).rejects.toThrow('answered HTTP 404');
  });

  it('names the reason when nothing listens', async () => {
    const closed = `http://127.0.0.1:${await getFreePort()}/api/v1/service-instances/kpc/app-configs`;
    await expect(fetchAppConfigs(closed, 1_000)).rejects.toThrow(`Tekton at ${closed} cannot be reached: `);
    await expect(fetchAppConfigs(closed, 1_000)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('backoff', () => {
  const settings = { initialMs: 1_000, maxMs: 60_000 };

  it('doubles from 1 s to 60 s, jittered into [½, 1] of the step', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 100].map((attempt) => backoffDelay(attempt, settings, () => 1))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000,
    ]);
    expect(backoffDelay(0, settings, () => 0)).toBe(500);
    expect(backoffDelay(6, settings, () => 0)).toBe(30_000);
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(2, settings);
      expect(delay).toBeGreaterThanOrEqual(2_000);
      expect(delay).toBeLessThanOrEqual(4_000);
    }
  });
});

describe('describeChange and canonicalApplications', () => {
  it('lists versions added, removed and changed', () => {
    const before = { ...tree({ v1: ['a'], v2: ['a'] }), ...tree({ w1: ['x'] }, 'other') };
    const after = { ...tree({ v1: ['a', 'b'], v3: [] }), ...tree({ w1: ['x'] }, 'other') };
    expect(describeChange(before, after)).toEqual({ added: ['v3'], removed: ['v2'], changed: ['v1'] });
    expect(describeChange(after, after)).toEqual({ added: [], removed: [], changed: [] });
  });

  it('ignores key and list order', () => {
    expect(canonicalApplications(tree({ v1: ['a', 'b'], v2: [] }))).toBe(canonicalApplications(tree({ v2: [], v1: ['b', 'a'] })));
    expect(canonicalApplications(tree({ v1: ['a'] }))).not.toBe(canonicalApplications(tree({ v1: ['b'] })));
  });
});

// ---- the routing source, with fake NATS, a controllable fetch and fake timers ----

interface PendingFetch {
  timeoutMs: number;
  resolve(applications: Applications): void;
  reject(error: Error): void;
}

describe('TektonRoutingSource', () => {
  let nats: FakeScmpNats;
  let fetches: PendingFetch[];
  let changes: Applications[];
  let log: ReturnType<typeof recordingLogger>;
  /** The subscription of each undecodable event counted. */
  let undecodable: string[];
  let source: TektonRoutingSource;

  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2030-01-01T00:00:00Z') });
    nats = new FakeScmpNats();
    fetches = [];
    changes = [];
    log = recordingLogger();
    undecodable = [];
    source = new TektonRoutingSource({
      url: 'http://tekton:8080',
      instanceName: 'kpc',
      timeoutMs: 10_000,
      nats,
      logger: log.logger,
      undecodable: new UndecodableMessages(new ThrottledLog(log.logger), (subscription) => undecodable.push(subscription)),
      onChange: (applications) => changes.push(applications),
      random: () => 1, // no jitter: delays are exactly 1 s, 2 s, 4 s…
      fetchConfigs: (timeoutMs) => new Promise((resolve, reject) => fetches.push({ timeoutMs, resolve, reject })),
    });
  });
  afterEach(() => {
    source.stop();
    vi.useRealTimers();
  });

  /** Lets promise callbacks (and zero-delay timers) run. */
  const settle = () => vi.advanceTimersByTimeAsync(0);

  async function started(initial = tree({ v1: ['a'] })): Promise<void> {
    const start = source.start();
    await settle();
    fetches[0]!.resolve(initial);
    await expect(start).resolves.toBe(initial);
    await settle();
  }

  it('subscribes to the broadcast and targeted upsert/delete subjects before the first fetch', async () => {
    const start = source.start();
    expect([...nats.handlers.keys()].sort()).toEqual([
      'kaa.v1.events.*.service.configuration.delete',
      'kaa.v1.events.*.service.configuration.upsert',
      'kaa.v1.service.kpc.scmp.configuration.delete',
      'kaa.v1.service.kpc.scmp.configuration.upsert',
    ]);
    await settle();
    fetches[0]!.resolve(tree({ v1: ['a'] }));
    await start;
    expect(changes).toEqual([]); // the first tree is start()'s result, not a change
    expect(source.problem).toBeUndefined();
  });

  it('start() retries until kaa.tekton.timeout, then fails naming the URL and the reason', async () => {
    const start = source.start();
    const outcome = start.then(() => 'resolved', (error: Error) => error.message);
    await settle();
    fetches[0]!.reject(new Error('Tekton at X cannot be reached: ECONNREFUSED'));
    await settle();
    expect(fetches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fetches).toHaveLength(2);
    expect(fetches[1]!.timeoutMs).toBe(9_000); // each attempt gets only what is left
    fetches[1]!.reject(new Error('still refused'));
    await vi.advanceTimersByTimeAsync(2_000);
    fetches[2]!.reject(new Error('refused again'));
    await vi.advanceTimersByTimeAsync(4_000); // t = 7 s
    expect(fetches.map((f) => f.timeoutMs)).toEqual([10_000, 9_000, 7_000, 3_000]);
    fetches[3]!.reject(new Error('refused once more'));
    await vi.advanceTimersByTimeAsync(2_000); // the last attempt keeps 1 s
    expect(fetches.map((f) => f.timeoutMs)).toEqual([10_000, 9_000, 7_000, 3_000, 1_000]);
    await vi.advanceTimersByTimeAsync(1_000);
    fetches[4]!.reject(new Error('Tekton at X did not answer within 1000 ms'));
    expect(await outcome).toBe(
      'cannot read the application configurations from Tekton at http://tekton:8080/api/v1/service-instances/kpc/app-configs' +
        ' within 10000 ms (kaa.tekton.timeout): Tekton at X did not answer within 1000 ms',
    );
    expect(fetches).toHaveLength(5);
    expect(nats.unsubscribed).toHaveLength(4); // stopped
  });

  it('re-fetches on each kind of event and reports only real changes', async () => {
    await started();
    nats.deliver('kaa.v1.events.tekton.service.configuration.upsert', broadcastEvent());
    expect(fetches).toHaveLength(2);
    fetches[1]!.resolve(tree({ v1: ['a'] })); // same tree
    await settle();
    expect(changes).toEqual([]);

    nats.deliver('kaa.v1.service.kpc.scmp.configuration.delete', targetedEvent());
    expect(fetches).toHaveLength(3);
    const next = tree({ v1: ['a', 'b'] });
    fetches[2]!.resolve(next);
    await settle();
    expect(changes).toEqual([next]);

    nats.listeners[0]!.onNatsReconnected(); // events may have been missed meanwhile
    expect(fetches).toHaveLength(4);
  });

  it('undecodable events are counted, logged once per interval (anyone on the bus may send many), and still trigger a re-fetch', async () => {
    await started();
    for (let i = 0; i < 5; i++) nats.deliver('kaa.v1.events.tekton.service.configuration.delete', new Uint8Array([1, 2, 3]));
    expect(log.lines.filter((line) => line.level === 'warn').map((line) => line.message)).toEqual([
      'undecodable 17/SCMP configuration event: re-fetching from Tekton anyway',
    ]);
    expect(undecodable).toEqual(Array(5).fill('kaa.v1.events.tekton.service.configuration.delete'));
    expect(fetches).toHaveLength(2); // one in flight, one queued: a burst coalesces
  });

  it('coalesces a burst: one fetch in flight, one queued', async () => {
    await started();
    for (let i = 0; i < 10; i++) nats.deliver('kaa.v1.events.tekton.service.configuration.upsert', broadcastEvent());
    expect(fetches).toHaveLength(2);
    fetches[1]!.resolve(tree({ v1: ['b'] }));
    await settle();
    expect(fetches).toHaveLength(3); // the queued re-fetch
    nats.deliver('kaa.v1.service.kpc.scmp.configuration.upsert', targetedEvent()); // during the queued one: queued again
    fetches[2]!.resolve(tree({ v1: ['c'] }));
    await settle();
    expect(fetches).toHaveLength(4);
    fetches[3]!.resolve(tree({ v1: ['c'] }));
    await settle();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(fetches).toHaveLength(4);
    expect(changes).toEqual([tree({ v1: ['b'] }), tree({ v1: ['c'] })]);
  });

  it('an event during the first fetch queues a re-fetch after start() has returned', async () => {
    const start = source.start();
    await settle();
    nats.deliver('kaa.v1.events.tekton.service.configuration.upsert', broadcastEvent());
    expect(fetches).toHaveLength(1);
    fetches[0]!.resolve(tree({ v1: ['a'] }));
    await start;
    await settle();
    expect(fetches).toHaveLength(2);
  });

  it('keeps the last good tree on failure, reports it, backs off exponentially, and recovers', async () => {
    await started();
    nats.deliver('kaa.v1.events.tekton.service.configuration.upsert', broadcastEvent());
    vi.setSystemTime(new Date('2030-01-01T00:00:05Z'));
    fetches[1]!.reject(new Error('Tekton at X answered HTTP 500'));
    await settle();
    expect(changes).toEqual([]);
    expect(source.problem).toBe('Tekton configuration re-fetch failing since 2030-01-01T00:00:05.000Z: Tekton at X answered HTTP 500');
    const warning = log.lines.find((line) => line.level === 'warn');
    expect(warning?.fields).toMatchObject({ event: 'tekton.refetch.failed', reason: 'Tekton at X answered HTTP 500', retryInMs: 1_000 });

    // Events while backing off do not bypass the backoff.
    nats.deliver('kaa.v1.events.tekton.service.configuration.upsert', broadcastEvent());
    nats.deliver('kaa.v1.service.kpc.scmp.configuration.upsert', targetedEvent());
    expect(fetches).toHaveLength(2);

    const retryAfter = async (ms: number, expected: number) => {
      await vi.advanceTimersByTimeAsync(ms - 1);
      expect(fetches).toHaveLength(expected - 1);
      await vi.advanceTimersByTimeAsync(1);
      expect(fetches).toHaveLength(expected);
    };
    await retryAfter(1_000, 3);
    fetches[2]!.reject(new Error('Tekton at X answered invalid JSON: oops'));
    await settle();
    expect(source.problem).toBe('Tekton configuration re-fetch failing since 2030-01-01T00:00:05.000Z: Tekton at X answered invalid JSON: oops');
    await retryAfter(2_000, 4);
    fetches[3]!.reject(new Error('timeout'));
    await settle();
    await retryAfter(4_000, 5);

    const next = tree({ v2: ['a'] });
    fetches[4]!.resolve(next);
    await settle();
    expect(source.problem).toBeUndefined();
    expect(changes).toEqual([next]);

    // The backoff starts over after a success.
    nats.deliver('kaa.v1.events.tekton.service.configuration.upsert', broadcastEvent());
    fetches[5]!.reject(new Error('again'));
    await settle();
    await retryAfter(1_000, 7);
  });

  it('caps the backoff at 60 s', async () => {
    await started();
    nats.deliver('kaa.v1.events.tekton.service.configuration.upsert', broadcastEvent());
    const delays: number[] = [];
    for (let i = 1; i <= 8; i++) {
      fetches[i]!.reject(new Error(`failure ${i}`));
      await settle();
      const before = Date.now();
      while (fetches.length === i + 1) await vi.advanceTimersByTimeAsync(1_000);
      delays.push(Date.now() - before);
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
  });

  it('stop() unsubscribes and ends retries', async () => {
    await started();
    nats.deliver('kaa.v1.events.tekton.service.configuration.upsert', broadcastEvent());
    fetches[1]!.reject(new Error('down'));
    await settle();
    source.stop();
    expect(nats.unsubscribed).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(120_000);
    nats.listeners[0]!.onNatsReconnected();
    expect(fetches).toHaveLength(2);
  });
});
