// Shared setup for the fault and lifecycle end-to-end tests: a real nats-server, the dev ECAP
// provider, the `echo` extension, the test's own NATS connection with an ELCE recorder, and the
// BUILT KPC (one or several, started and stopped by the tests themselves).
//
// Credentials: every user `u` has password `pw-u` (clientId `client-u`, credentialId `cred-u`);
// token `token-N` belongs to endpoint `endpoint-N` (tokenId `tokid-token-N`).
import { randomBytes, randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';
import type { IClientOptions } from 'mqtt';
import { DevEcapProvider, type DevCredentials } from '../../dev/ecap-provider.js';
import { EchoExtension } from '../../dev/echo-extension.js';
import { connectToNats } from '../../dev/nats-connection.js';
import { codecs } from '../../src/infra/nats/codecs.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import { ElceRecorder, listing } from './elce-recorder.js';
import { startKpc, type KpcHandle, type StartKpcOptions } from './kpc-process.js';
import { startNatsServer, type NatsServerHandle } from './nats-server.js';
import { TestClient } from './test-client.js';
import { waitUntil } from './waiting.js';

export const APP_VERSION = 'demo_application_v1';
export const ECHO = 'echo';

const quietLogger = { info: () => {}, warn: () => {} };

export const passwordOf = (user: string): string => `pw-${user}`;
/** `token-N` → `endpoint-N`. */
export const endpointOf = (token: string): string => token.replace(/^token-/, 'endpoint-');

/** `kp1/demo_application_v1/echo/{token}/{path}[/{requestId}]`. */
export function tokenTopic(token: string, path = 'data', requestId?: number): string {
  const base = `kp1/${APP_VERSION}/${ECHO}/${token}/${path}`;
  return requestId === undefined ? base : `${base}/${requestId}`;
}

export function makeCredentials(users: string[], tokenCount: number): DevCredentials {
  const credentials: DevCredentials = { users: {}, tokens: {}, certificates: {} };
  for (const user of users) credentials.users[user] = { password: passwordOf(user) };
  for (let n = 1; n <= tokenCount; n++) credentials.tokens[`token-${n}`] = { endpointId: `endpoint-${n}` };
  return credentials;
}

export interface Backend {
  nats: NatsServerHandle;
  /** Read live by the provider: tests may add users and tokens. */
  credentials: DevCredentials;
  provider: DevEcapProvider;
  echo: EchoExtension;
  /** The test's own NATS connection (reconnects forever, like the dev helpers). */
  observer: NatsConnection;
  elce: ElceRecorder;
  /** A KPC on this backend (its NATS URLs default to this nats-server); stopped by `stop()` if still running. */
  startKpc(opts?: Partial<StartKpcOptions>): Promise<KpcHandle>;
  /** Connects user `user` (password `pw-{user}`) with a short unique MQTT client id. */
  connect(kpc: KpcHandle, user: string, opts?: IClientOptions): Promise<TestClient>;
  /**
   * The client speaks for `token`: a request on it is answered (so the token is identified), and
   * `kpc` announces the endpoint `connected`.
   */
  speakFor(kpc: KpcHandle, client: TestClient, token: string): Promise<void>;
  /**
   * An extension push (status 200, payload `marker`, resource path `/command`) to `endpointId`,
   * published on the KPC instance subject from the observer connection: pushes (and any other
   * message) published this way reach KPC in the order they were published.
   */
  push(endpointId: string, marker: string): Promise<void>;
  stop(): Promise<void>;
}

/** `natsArgs`: extra nats-server arguments (e.g. a cluster port, for a second server routed to this one). */
export async function startBackend(opts: { users: string[]; tokens: number; natsArgs?: string[] }): Promise<Backend> {
  const nats = await startNatsServer({ args: opts.natsArgs });
  const credentials = makeCredentials(opts.users, opts.tokens);
  const provider = new DevEcapProvider({ natsUrls: nats.url, credentials, logger: quietLogger });
  const echo = new EchoExtension({ natsUrls: nats.url, instanceName: ECHO, logger: quietLogger });
  const kpcs: KpcHandle[] = [];
  const clients: TestClient[] = [];
  let observer: NatsConnection | undefined;
  let elce: ElceRecorder | undefined;

  const stop = async () => {
    await Promise.all(clients.map((client) => client.mqtt.endAsync(true).catch(() => {})));
    await Promise.all(kpcs.map((kpc) => kpc.stop('SIGKILL')));
    elce?.stop();
    await Promise.all([provider.stop(), echo.stop(), observer?.close()]);
    await nats.stop();
  };
  try {
    await Promise.all([provider.start(), echo.start()]);
    observer = await connectToNats(nats.url, 'lifecycle-test-observer');
    elce = await ElceRecorder.start(observer);
  } catch (error) {
    await stop();
    throw error;
  }
  const nc = observer;
  const recorder = elce;

  return {
    nats,
    credentials,
    provider,
    echo,
    observer: nc,
    elce: recorder,
    async startKpc(kpcOpts = {}) {
      const kpc = await startKpc({ natsUrls: [nats.url], ...kpcOpts });
      kpcs.push(kpc);
      return kpc;
    },
    async connect(kpc, user, clientOpts = {}) {
      const clientId = `${user.slice(0, 12)}-${randomBytes(3).toString('hex')}`; // aedes refuses ids over 23 characters
      const client = await TestClient.connect(kpc.mqttUrl, clientId, { clientId, username: user, password: passwordOf(user), ...clientOpts });
      clients.push(client);
      return client;
    },
    async speakFor(kpc, client, token) {
      const endpointId = endpointOf(token);
      const since = recorder.mark();
      const topic = tokenTopic(token, 'hello', 1);
      const answer = await client.request(topic, `hello from ${client.name}`);
      if (answer.topic !== `${topic}/status`) throw new Error(`${client.name} speaking for ${token}: answered on ${answer.topic}: ${answer.payload.toString()}`);
      await recorder.waitFor((e) => listing('connected', endpointId)(e) && e.originatorReplicaId === kpc.replicaId, `connected ${endpointId} (${client.name})`, {
        since,
      });
    },
    async push(endpointId, marker) {
      const data = pushData(endpointId, marker);
      nc.publish(subjects.instanceExtensionData('kpc'), data);
      await nc.flush();
    },
    stop,
  };
}

export interface HealthAnswer {
  /** The HTTP status, or 'refused' when nothing listens any more. */
  status: number | 'refused';
  body: string;
}

export async function getHealth(kpc: KpcHandle): Promise<HealthAnswer> {
  try {
    const response = await fetch(`${kpc.httpUrl}/health`, { signal: AbortSignal.timeout(2_000) });
    return { status: response.status, body: await response.text() };
  } catch (error) {
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return { status: 'refused', body: '' };
    throw error;
  }
}

/** Polls /health until it answers `status` (bounded). */
export async function waitForHealth(kpc: KpcHandle, status: 200 | 500, timeoutMs = 10_000): Promise<HealthAnswer> {
  let last: HealthAnswer | undefined;
  return waitUntil(
    async () => {
      last = await getHealth(kpc);
      return last.status === status ? last : undefined;
    },
    `/health answering ${status}`,
    { timeoutMs, detail: () => `last answer: ${last?.status} ${last?.body}` },
  );
}

/** An ExtensionData push (no correlation with any request) for `endpointId`, payload `marker`. */
export function pushData(endpointId: string, marker: string): Uint8Array {
  return codecs.extensionData.encode({
    correlationId: randomUUID(),
    timestamp: Date.now(),
    timeout: 0,
    appVersionName: APP_VERSION,
    extensionInstanceName: ECHO,
    endpointId,
    resourcePath: '/command',
    requestId: null,
    payload: Buffer.from(marker),
    statusCode: 200,
    reasonPhrase: null,
  });
}
