// The three charts against the REAL service: the BUILT KPC as a child process, a real nats-server,
// the dev ECAP provider, the echo extensions, real MQTT clients (test/support/stack.ts, test/support/mqtt.ts).
//
// The paths are the generated ones the in-process model tests drive (same TestModel, same event
// lists); each machine's table below says which chart events can be produced for real and how,
// and every generated path whose events all can is run (support/e2e.ts, `drivableEndToEnd`).
// After every step we wait, bounded, until the service reports the model's state:
//
//   client and endpoint sessions: GET /sessions/{mqttClientId} (management API). Not only the state
//     is compared but the actor's whole journal, [event, state] per event it received, with the
//     model's path, and the identities ECAP gave (client id, credential, endpoint, token ids);
//   registry: GET /health (200 = running, else its "service is …" problem) and, once the process
//     has exited, its exit code.
//
// What decides WHEN a chart event happens:
//   - ECAP answers: KPC addresses the provider as GATED_ECAP; an EcapGate (support/ecap-gate.ts)
//     holds the requests of the session under test until the path's `ecap.replied` step lets them
//     through to the dev provider, which answers from its table (200, 401 for a password it does not
//     hold, 403 for a blocked token, 503 in `unavailable` mode). A request never let through is the
//     `after` timeout (authentication and identification: 1 s here);
//   - NATS: paths that stop the service or take NATS away get a KPC of their own, connected through
//     a TcpRelay (support/tcp-relay.ts) that can keep it `starting` until opened, cut NATS, or hold
//     the NATS drain of `draining` (so that it can be observed) until reopened.
//
// One stack (nats-server, provider, extensions, the shared KPC) serves the whole file; a KPC of its
// own starts in about a second.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as mqttConnect, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import type { ClientSessionEvent } from '../../src/machines/client-session.machine.js';
import type { SessionDetails, SessionSummary } from '../../src/actors/registry/session-inspection.js';
import { codecs } from '../../src/infra/nats/codecs.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import { startKpc, type KpcHandle } from '../support/kpc-process.js';
import { EcapGate } from './support/ecap-gate.js';
import { drivableEndToEnd, E2eRun, observe, trailOf, within, type E2eTable } from './support/e2e.js';
import {
  CLIENT_ID, clientSessionModel, endpointSessionModel, PASSWORD_CREDENTIAL, registryModel, TOKEN_ID,
} from './support/events.js';
import { AUTHENTICATION_TIMEOUT_MS, ENDPOINT_ID, MAX_HELD_MESSAGES } from './support/harness.js';
import type { ModelPath } from './support/paths.js';
import { TcpRelay } from './support/tcp-relay.js';
import { APP_VERSION, ECHO, type Stack, startStack } from '../support/stack.js';
import { connackCode, connectClient, kpTopic, uniqueId } from '../support/mqtt.js';

const ADMIN_TOKEN = 'model-e2e-admin-token';
/** The ECAP service instance KPC addresses: the gate, which passes requests on to the dev provider (`cm`). */
const GATED_ECAP = 'model-gate';
const PROVIDER = 'cm';
/** The KPC's authentication timeout (also its identification timeout) and negative cache. */
const DELAY_MS = AUTHENTICATION_TIMEOUT_MS;
/** Bound on the service reaching the model's state after a stimulus (plus the delay, for `after` steps). */
const STEP_MS = 3_000;
const GRACEFUL_SHUTDOWN_S = 2;
const KPC_INSTANCE = 'kpc';

let stack: Stack;
let gate: EcapGate;

/** The configuration of the KPCs the session paths run against. */
function sessionKpcConfig(allowAnonymous: boolean): Record<string, unknown> {
  return {
    server: { 'admin-token': ADMIN_TOKEN },
    kaa: {
      kpc: {
        authentication: {
          timeout: `${DELAY_MS}ms`, 'negative-cache': `${DELAY_MS}ms`, 'service-instance-name': GATED_ECAP, 'allow-anonymous': allowAnonymous,
        },
        // The bound the models' live wiring runs with (support/harness.ts).
        'max-pending-per-token': MAX_HELD_MESSAGES,
      },
    },
  };
}

beforeAll(async () => {
  stack = await startStack({ kpcConfig: sessionKpcConfig(false) });
  gate = await EcapGate.start(stack.nc, GATED_ECAP, PROVIDER);
});

afterAll(async () => {
  gate?.stop();
  await stack?.stop();
});

// ---- the management API ----

async function admin(kpc: KpcHandle, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${kpc.httpUrl}${path}`, { ...init, headers: { Authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(2_000) });
}

/** The live session with this MQTT client id, else the most recently ended one; undefined if none. */
async function sessionOf(mqttClientId: string, kpc = stack.kpc): Promise<SessionDetails | undefined> {
  const response = await admin(kpc, `/sessions/${encodeURIComponent(mqttClientId)}`);
  if (response.status === 404) return undefined;
  expect(response.status, `GET /sessions/${mqttClientId}`).toBe(200);
  return (await response.json()) as SessionDetails;
}

/** Lets the provider's answer to the next request of the session under test be a 503. */
async function providerUnavailableFor(release: () => Promise<unknown>, asked: () => boolean): Promise<void> {
  stack.provider.mode = 'unavailable';
  try {
    await release();
    await within(waitFor(asked), STEP_MS, 'the dev provider to receive the request');
  } finally {
    stack.provider.mode = 'normal';
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** What GET /health lists as wrong (empty when healthy); undefined when it does not answer. */
async function healthProblems(kpc: KpcHandle): Promise<string[] | undefined> {
  try {
    const response = await fetch(`${kpc.httpUrl}/health`, { signal: AbortSignal.timeout(1_000) });
    return ((await response.json()) as { problems?: string[] }).problems ?? [];
  } catch {
    return undefined;
  }
}

/** A KPC of its own, reaching NATS through a relay (stopped with `stopOwnKpc`). */
async function startOwnKpc(config: Record<string, unknown>, relayOpen: boolean): Promise<{ kpc: KpcHandle; relay: TcpRelay }> {
  const relay = await TcpRelay.start({ port: stack.nats.port });
  if (relayOpen) relay.open();
  try {
    return { kpc: await startKpc({ natsUrls: [relay.url], config, expectHealthy: relayOpen }), relay };
  } catch (error) {
    await relay.stop();
    throw error;
  }
}

async function stopOwnKpc({ kpc, relay }: { kpc: KpcHandle; relay: TcpRelay }): Promise<void> {
  if (kpc.process.exitCode === null && kpc.process.signalCode === null) await kpc.stop('SIGKILL');
  await relay.stop();
}

/** Bound for the state check after the last event: `after` steps first wait for their delay. */
const boundAfter = (event: EventObject | undefined, delayMs: number) => (event?.type.startsWith('xstate.after.') ? delayMs + STEP_MS : STEP_MS);

// ---- client session ----

const NO_CONNACK_YET = 'no CONNACK yet';
type ConnectEvent = Extract<ClientSessionEvent, { type: 'mqtt.connect' }>;

let anonymousKpc: Promise<KpcHandle> | undefined;

/**
 * A device with its own account in the provider's table, whose username/password requests the
 * gate holds. It connects to the shared KPC, unless its path needs another one: a KPC allowing
 * anonymous clients (shared by those paths), or one of its own when the path takes NATS away
 * (`serviceAvailable: false`) or stops the service.
 */
class ClientWorld {
  readonly e2e: E2eRun<ClientWorld>;
  readonly mqttClientId = uniqueId('model-client');
  readonly username = uniqueId('model-user');
  readonly password = 'model-password';
  /** What the provider answers for the account: the model's CLIENT_ID and PASSWORD_CREDENTIAL stand for these. */
  readonly clientId = uniqueId('model-client-id');
  readonly credentialId = uniqueId('model-credential');
  client: MqttClient | undefined;
  /** 0, the CONNACK's refusal code, or why there was none. */
  connack: Promise<number | string> | undefined;
  closed: Promise<void> | undefined;

  private constructor(
    path: ModelPath,
    readonly kpc: KpcHandle,
    readonly own: { kpc: KpcHandle; relay: TcpRelay } | undefined,
  ) {
    this.e2e = new E2eRun(clientSessionModel, path);
    stack.credentials.users[this.username] = { password: this.password, clientId: this.clientId, credentialId: this.credentialId };
    gate.watch(this.username);
  }

  static async create(path: ModelPath): Promise<ClientWorld> {
    const connect = path.events[0] as ConnectEvent; // the live session starts with its CONNECT
    if (!connect.serviceAvailable || path.events.some((event) => event.type === 'service.stopping')) {
      const own = await startOwnKpc(sessionKpcConfig(connect.anonymousAllowed), true);
      return new ClientWorld(path, own.kpc, own);
    }
    if (connect.anonymousAllowed) return new ClientWorld(path, await (anonymousKpc ??= stack.startKpc({ config: sessionKpcConfig(true) })), undefined);
    return new ClientWorld(path, stack.kpc, undefined);
  }

  connect(credentials: { username?: string; password?: string }): void {
    const client = mqttConnect(this.kpc.mqttUrl, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, clientId: this.mqttClientId, ...credentials });
    client.on('error', () => {});
    this.connack = new Promise((resolve) => {
      client.once('connect', () => resolve(0));
      client.once('error', (error) => resolve((error as { code?: number | string }).code ?? error.message));
      client.once('close', () => resolve('connection closed before CONNACK'));
    });
    this.closed = new Promise((resolve) => client.once('close', () => resolve()));
    this.client = client;
  }

  get live(): MqttClient {
    if (this.client === undefined) throw new Error('no CONNECT yet');
    return this.client;
  }

  /** NATS goes down under this world's own KPC; resolves once KPC knows. */
  async natsDown(): Promise<void> {
    this.own!.relay.close();
    await observe(`${this.e2e.where}\n  KPC noticing NATS is down`, async () => (await healthProblems(this.kpc))?.includes('NATS is not connected'), true, STEP_MS);
  }

  /** SIGTERM to this world's own KPC; its NATS drain is held (relay paused), so it stays `draining` and can be inspected. */
  stopService(): void {
    this.own!.relay.pause();
    this.kpc.process.kill('SIGTERM');
  }

  async end(): Promise<void> {
    this.client?.end(true);
    if (this.own !== undefined) await stopOwnKpc(this.own);
  }

  /** The model's identities, as the provider spelled them for this account. */
  private real(id: string | null): string | null {
    return id === CLIENT_ID ? this.clientId : id === PASSWORD_CREDENTIAL ? this.credentialId : id;
  }

  async check(model: AnyMachineSnapshot): Promise<void> {
    const { e2e } = this;
    if (model.value === 'connecting') {
      expect(await sessionOf(this.mqttClientId, this.kpc), `${e2e.where}\n  nothing reached KPC before the CONNECT`).toBeUndefined();
      return;
    }
    const context = model.context as { clientId: string | null; credentialIds: string[] };
    const project = (session: SessionDetails | undefined) =>
      session === undefined
        ? 'no such session'
        : { state: session.state, journal: trailOf(session.journal), clientId: session.clientId, credentialIds: session.credentialIds };
    await observe(
      e2e.where,
      async () => project(await sessionOf(this.mqttClientId, this.kpc)),
      { state: model.value, journal: e2e.trail, clientId: this.real(context.clientId), credentialIds: context.credentialIds.map((id) => this.real(id)!) },
      boundAfter(e2e.model.lastEvent, DELAY_MS),
    );

    // What the device saw.
    const expectedConnack = {
      authenticating: NO_CONNACK_YET,
      active: 0,
      rejected: refusalCode(e2e.model.previous!, e2e.model.lastEvent!), // the chart's refuseConnection says which
      revoked: 0,
      closed: e2e.model.cameFrom === 'active' ? 0 : 'connection closed before CONNACK',
    }[model.value as string];
    const connack = expectedConnack === NO_CONNACK_YET
      ? await Promise.race([this.connack!, sleep(50).then(() => NO_CONNACK_YET)])
      : await within(this.connack!, STEP_MS, `${e2e.where}\n  the CONNACK`);
    expect(connack, `${e2e.where}\n  CONNACK`).toBe(expectedConnack);
    // KPC closes the connection itself when it decided the end (not when the client left).
    const closedByKpc = model.value === 'revoked' || (model.value === 'closed' && e2e.model.lastEvent!.type !== 'mqtt.disconnected');
    if (closedByKpc) await within(this.closed!, STEP_MS, `${e2e.where}\n  KPC closing the connection`);
  }
}

/** The return code of the chart's own `refuseConnection` action on this transition. */
function refusalCode(from: AnyMachineSnapshot, event: EventObject): number | undefined {
  for (const definition of clientSessionModel.machine.getTransitionData(from, event)) {
    for (const action of definition.actions as Array<{ type?: string; params?: { returnCode?: number } }>) {
      if (action.type === 'refuseConnection') return action.params?.returnCode;
    }
  }
  return undefined;
}

const clientStimuli: E2eTable<ClientWorld> = {
  'CONNECT with username/password': { run: (w) => w.connect({ username: w.username, password: w.password }) },
  'CONNECT anonymously (allowed)': { run: (w) => w.connect({}) },
  'CONNECT anonymously (not allowed)': { run: (w) => w.connect({}) },
  'CONNECT while NATS is down': {
    run: async (w) => {
      await w.natsDown();
      w.connect({ username: w.username, password: w.password });
    },
  },
  'ECAP 200 for the password': { run: (w) => gate.release('username-password', w.username) },
  'ECAP 401 for the password': {
    run: (w) => {
      stack.credentials.users[w.username]!.password = 'not-what-the-device-sent';
      return gate.release('username-password', w.username);
    },
  },
  'ECAP 503 for the password': {
    run: (w) => providerUnavailableFor(
      () => gate.release('username-password', w.username),
      () => stack.provider.requestLog.some((request) => request.username === w.username),
    ),
  },
  // The gate keeps the request: the provider never answers.
  'authentication timeout': { run: () => {} },
  'credential revoked': { run: (w) => stack.provider.revokeCredential(w.credentialId) },
  'client disconnected': { run: (w) => void w.live.end(true) },
  'admin disconnect': {
    run: async (w) => expect((await admin(w.kpc, `/sessions/${w.mqttClientId}`, { method: 'DELETE' })).status, 'DELETE /sessions/…').toBe(200),
  },
  'service stopping': { run: (w) => w.stopService() },
  // Not driven end to end: TLS client certificates (another listener and PKI), and `ecap.failed`:
  // KPC fails a request at once only when NATS is down as it is sent, and with NATS down the
  // CONNECT is already refused (`CONNECT while NATS is down`).
};

describe('client session chart, end to end', () => {
  const paths = drivableEndToEnd(clientSessionModel, clientStimuli);

  it('has generated paths that run end to end', () => {
    expect(paths.length).toBeGreaterThan(0);
  });

  for (const path of paths) {
    it(path.description, async () => {
      const world = await ClientWorld.create(path);
      try {
        await path.test(world.e2e.params(world, clientStimuli, (model) => world.check(model)));
      } finally {
        await world.end();
        gate.reset();
      }
    });
  }
});

// ---- endpoint session ----

/**
 * A connected device publishing with its endpoint token; the token's validation requests are held
 * by the gate. The endpoint session under test ("the subject") is the one its first PUBLISH
 * created, which holds that PUBLISH (the model starts just after it).
 */
class EndpointWorld {
  readonly e2e: E2eRun<EndpointWorld>;
  readonly username = uniqueId('model-device');
  readonly token = uniqueId('model-token');
  /** The model's ENDPOINT_ID and TOKEN_ID stand for these. */
  readonly endpointId = uniqueId('model-endpoint');
  readonly tokenId = uniqueId('model-token-id');
  readonly others: MqttClient[] = [];
  device!: MqttClient;
  subject!: string;
  private requests = 0;

  private constructor(path: ModelPath) {
    this.e2e = new E2eRun(endpointSessionModel, path, {
      initialTrail: [['xstate.init', 'identifying'], ['kp.published', 'identifying']],
    });
  }

  static async create(path: ModelPath): Promise<EndpointWorld> {
    const world = new EndpointWorld(path);
    stack.credentials.users[world.username] = { password: 'device-password' };
    stack.credentials.tokens[world.token] = { endpointId: world.endpointId, tokenId: world.tokenId };
    gate.watch(world.token);
    world.device = await connectClient(stack.kpc.mqttUrl, { clientId: world.username, username: world.username, password: 'device-password' });
    try {
      world.publish();
      await observe(`${world.e2e.where}\n  the first PUBLISH starting an endpoint session`, async () => (await sessionOf(world.username))?.endpoints.length, 1, STEP_MS);
      world.subject = (await sessionOf(world.username))!.endpoints[0]!.actorId;
      return world;
    } catch (error) {
      world.end();
      throw error;
    }
  }

  /** A QoS 1 PUBLISH with the token (a request, answered on /status or /error); its PUBACK may wait for identification. */
  publish(): void {
    this.device.publish(kpTopic(APP_VERSION, ECHO, this.token, 'hello', ++this.requests), '{"t":21}', { qos: 1 }, () => {});
  }

  /** What Kaa's command clients do: SUBSCRIBE to the token's command topic (`…/+` for status and error); the SUBACK may wait. */
  subscribe(): void {
    this.device.subscribe(kpTopic(APP_VERSION, ECHO, this.token, 'command', `type-${++this.requests}`, '+'), { qos: 1 }, () => {});
  }

  /** Local roaming: a second device on this replica speaks for the same endpoint with another token. */
  async anotherLocalSessionTakesTheEndpoint(): Promise<void> {
    const username = uniqueId('model-other-device');
    const token = uniqueId('model-other-token');
    stack.credentials.users[username] = { password: 'other-password' };
    stack.credentials.tokens[token] = { endpointId: this.endpointId };
    const other = await connectClient(stack.kpc.mqttUrl, { clientId: username, username, password: 'other-password' });
    this.others.push(other);
    await other.publishAsync(kpTopic(APP_VERSION, ECHO, token, 'hello', 1), '{"t":22}', { qos: 1 });
  }

  async connectedFromAnotherReplica(): Promise<void> {
    stack.nc.publish(subjects.endpointConnected(KPC_INSTANCE), codecs.endpointConnected.encode({
      correlationId: randomUUID(), timestamp: Date.now(), timeout: 0, endpoints: { [this.endpointId]: APP_VERSION }, originatorReplicaId: 'model-other-replica',
    }));
    await stack.nc.flush();
  }

  end(): void {
    for (const client of [this.device, ...this.others]) client?.end(true);
  }

  private real(id: string | null): string | null {
    return id === ENDPOINT_ID ? this.endpointId : id === TOKEN_ID ? this.tokenId : id;
  }

  async check(model: AnyMachineSnapshot): Promise<void> {
    const { e2e } = this;
    const context = model.context as { endpointId: string | null; tokenId: string | null };
    const project = (session: SessionDetails | undefined) => {
      const subject = session?.endpoints.find((endpoint) => endpoint.actorId === this.subject);
      return subject === undefined
        ? 'no such endpoint session'
        : { state: subject.state, journal: trailOf(subject.journal), endpointId: subject.endpointId, tokenId: subject.tokenId };
    };
    await observe(
      e2e.where,
      async () => project(await sessionOf(this.username)),
      { state: model.value, journal: e2e.trail, endpointId: this.real(context.endpointId), tokenId: this.real(context.tokenId) },
      boundAfter(e2e.model.lastEvent, DELAY_MS),
    );
  }
}

const release = (w: EndpointWorld) => gate.release('token', w.token);

const endpointStimuli: E2eTable<EndpointWorld> = {
  'PUBLISH with the token': { run: (w) => w.publish() },
  'SUBSCRIBE naming the token': { run: (w) => w.subscribe() },
  'ECAP 200': { run: release },
  'ECAP 200 without endpoint id': {
    run: (w) => {
      // A provider answering 200 without saying which endpoint (the wire format allows null).
      stack.credentials.tokens[w.token] = { endpointId: null as unknown as string, tokenId: w.tokenId };
      return release(w);
    },
  },
  'ECAP 403': {
    run: (w) => {
      stack.credentials.tokens[w.token]!.blocked = true;
      return release(w);
    },
  },
  'ECAP 503': {
    run: (w) => providerUnavailableFor(() => release(w), () => stack.provider.tokenRequestCounts.has(w.token)),
  },
  // The gate keeps the request: the provider never answers.
  'identification timeout': { run: () => {} },
  // `negative-cache` is 1 s in this KPC's configuration.
  'negative cache expiry': { run: () => {} },
  'ELCE connected from another replica': { run: (w) => w.connectedFromAnotherReplica() },
  'another local session takes the endpoint': { run: (w) => w.anotherLocalSessionTakesTheEndpoint() },
  'token revoked': { run: (w) => stack.provider.revokeToken(w.endpointId, [w.tokenId]) },
  'client session ended': { run: (w) => void w.device.end(true) },
  // Not driven end to end: `ecap.failed` (NATS down while validating).
};

describe('endpoint session chart, end to end', () => {
  const paths = drivableEndToEnd(endpointSessionModel, endpointStimuli);

  it('has generated paths that run end to end', () => {
    expect(paths.length).toBeGreaterThan(0);
  });

  for (const path of paths) {
    it(path.description, async () => {
      const world = await EndpointWorld.create(path);
      try {
        await path.test(world.e2e.params(world, endpointStimuli, (model) => world.check(model)));
      } finally {
        world.end();
        gate.reset();
      }
    });
  }
});

// ---- registry ----

/** A KPC of its own, reaching NATS through a relay the test opens, pauses and reopens. */
class RegistryWorld {
  readonly e2e: E2eRun<RegistryWorld>;
  /** Clients refused at CONNECT: each one's session finished (`session.finished`) while running. */
  readonly finished: string[] = [];

  private constructor(
    path: ModelPath,
    readonly relay: TcpRelay,
    readonly kpc: KpcHandle,
  ) {
    this.e2e = new E2eRun(registryModel, path);
  }

  static async create(path: ModelPath): Promise<RegistryWorld> {
    const config = { server: { 'admin-token': ADMIN_TOKEN }, service: { 'graceful-shutdown': GRACEFUL_SHUTDOWN_S } };
    const { kpc, relay } = await startOwnKpc(config, false);
    return new RegistryWorld(path, relay, kpc);
  }

  /**
   * The registry's state as the outside sees it: the exit code once exited, else what /health says
   * (before main.ts has built the registry, /health also says "service is starting").
   */
  async state(): Promise<string> {
    const { exitCode, signalCode } = this.kpc.process;
    if (exitCode !== null || signalCode !== null) return `stopped (exit ${exitCode ?? signalCode})`;
    const problems = await healthProblems(this.kpc);
    if (problems === undefined) return 'no answer';
    if (problems.length === 0) return 'running';
    const phase = problems.map((problem) => /^service is (\w+)$/.exec(problem)?.[1]).find((p) => p !== undefined);
    return phase ?? `unhealthy: ${problems.join('; ')}`;
  }

  async check(model: AnyMachineSnapshot): Promise<void> {
    const { e2e } = this;
    const { lastEvent } = e2e.model;
    // main.ts exits 1 when the chart reported the shutdown timeout, else 0.
    const timedOut = lastEvent?.type === 'xstate.after.gracefulShutdown.registry.draining';
    const expected = model.value === 'stopped' ? `stopped (exit ${timedOut ? 1 : 0})` : (model.value as string);
    const bound = model.value === 'starting' ? 15_000 : boundAfter(lastEvent, GRACEFUL_SHUTDOWN_S * 1_000);
    await observe(e2e.where, () => this.state(), expected, bound);
    if (model.value === 'running') {
      // Finished sessions were forgotten by the registry: listed as ended, no longer live.
      const { live, ended } = (await (await admin(this.kpc, '/sessions')).json()) as { live: SessionSummary[]; ended: SessionSummary[] };
      expect(live.map((s) => s.mqttClientId), `${e2e.where}\n  live sessions`).toEqual([]);
      expect(ended.map((s) => `${s.mqttClientId}: ${s.state}`).sort(), `${e2e.where}\n  ended sessions`)
        .toEqual(this.finished.map((id) => `${id}: rejected`).sort());
    }
  }

  end(): Promise<void> {
    return stopOwnKpc(this);
  }
}

const registryStimuli: E2eTable<RegistryWorld> = {
  // What main.ts sends once its NATS connection is up (and the listeners listen).
  'NATS connected': { run: (w) => w.relay.open() },
  // The relay holds NATS traffic from now on, so the NATS drain of `draining` cannot finish yet.
  // Only from `running`: while KPC waits for NATS (/health: "service is starting") main.ts has not
  // built the registry nor installed its signal handlers, and SIGTERM kills the process outright
  // (exit by signal, not `stopped` with code 0): the chart's `starting --shutdown.requested--> stopped`
  // holds only in the milliseconds between registry.start() and `nats.connected`.
  SIGTERM: {
    from: ['running'],
    run: (w) => {
      w.relay.pause();
      w.kpc.process.kill('SIGTERM');
    },
  },
  'drain finished': { run: (w) => w.relay.open() },
  // The relay stays paused past `service.graceful-shutdown`.
  'graceful shutdown timeout': { run: () => {} },
  // A client refused at CONNECT: its session actor is done at once. (No listener before `running`,
  // and `draining` ends every session on entry, before any new one could finish.)
  'a session finished': {
    from: ['running'],
    run: async (w) => {
      const mqttClientId = uniqueId('model-refused');
      expect(await connackCode(w.kpc.mqttUrl, { clientId: mqttClientId }), 'anonymous CONNECT').toBe(5);
      w.finished.push(mqttClientId);
    },
  },
  // Not driven end to end: a session action throwing (a bug on purpose), the NATS drain failing.
};

describe('registry chart, end to end', () => {
  const paths = drivableEndToEnd(registryModel, registryStimuli);

  it('has generated paths that run end to end', () => {
    expect(paths.length).toBeGreaterThan(0);
  });

  for (const path of paths) {
    it(path.description, async () => {
      const world = await RegistryWorld.create(path);
      try {
        await path.test(world.e2e.params(world, registryStimuli, (model) => world.check(model)));
      } finally {
        await world.end();
      }
    });
  }
});
