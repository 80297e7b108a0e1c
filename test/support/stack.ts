// THE test stack of the end-to-end tests: a real nats-server (or a 3-node NATS cluster), the
// stand-ins for what cannot run here (the dev ECAP/CAP provider, the `echo` and `echo-unaware`
// extensions, optionally Tekton), the test's own NATS connection with a 9/ELCE recorder, and the BUILT KPC.
//
//   const stack = await startStack();                        // one KPC: stack.kpc
//   const stack = await startStack({ kpcConfig: {...} });    // deep-merged over the test config
//   const stack = await startStack({ noKpc: true, users: ['alice'], tokens: 3 });
//                                                            // the test starts KPCs: stack.startKpc()
//   const stack = await startStack({ transports: { credentialId: 'cred-1' } });
//                                                            // TCP + TLS + WebSocket: stack.transports
//   const stack = await startStack({ tekton: { kpc: appConfigs } });  // applications from Tekton: stack.tekton
//   const stack = await startStack({ cluster: { providerNode: 0, echoNode: 1, observerNode: 2 } });
//                                                            // 3 NATS nodes: stack.cluster (see cluster-replicas.ts)
//   await stack.startKpc({ config, env });                   // one more KPC on the same NATS (another
//                                                            // config, a second replica); options of kpc-process.ts
//   afterAll(() => stack.stop());                            // ends clients, kills every KPC, stops the rest
//
// Credentials (read live by the provider: tests add users and tokens to `stack.credentials`):
// DEVICE and GATEWAY below; `token-1`, `token-2` (endpoints `endpoint-1`, `endpoint-2`) and
// `blocked-token`; `users: [u]` adds user `u` with password `pw-u`; `tokens: N` adds `token-1` …
// `token-N` of `endpoint-1` … `endpoint-N`; `newToken()` registers a fresh one.
//
// MQTT clients: `stack.connect(kpc, user)` (a TestClient, ended with the stack) or the functions of
// mqtt.ts with `kpc.mqttUrl`.
import { randomBytes, randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';
import type { IClientOptions } from 'mqtt';
import { DevEcapProvider, type DevCredentials } from '../../dev/ecap-provider.js';
import { EchoExtension } from '../../dev/echo-extension.js';
import { connectToNats } from '../../dev/nats-connection.js';
import { codecs } from '../../src/infra/nats/codecs.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import { createTestPki, type TestPki } from './certificates.js';
import { ElceRecorder, listing } from './elce-recorder.js';
import { deepMerge, startKpc, type KpcHandle, type StartKpcOptions } from './kpc-process.js';
import { TestClient, uniqueId } from './mqtt.js';
import { startNatsCluster, type NatsCluster } from './nats-cluster.js';
import { getFreePort, startNatsServer, type NatsServerHandle } from './nats-server.js';
import { TektonStandIn } from './tekton-stand-in.js';
import { mqttTransportConfig, tlsListener, wsListener } from './transports.js';

export const APP_NAME = 'demo_application';
export const APP_VERSION = 'demo_application_v1';
export const ECHO = 'echo';
export const ECHO_UNAWARE = 'echo-unaware';

export const DEVICE = { username: 'device-1', password: 'secret-1' } as const;
export const GATEWAY = { username: 'gateway-1', password: 'secret-2' } as const;

export const passwordOf = (user: string): string => `pw-${user}`;
/** `token-N` → `endpoint-N`. */
export const endpointOf = (token: string): string => token.replace(/^token-/, 'endpoint-');

/** `kp1/demo_application_v1/echo/{token}/{path}[/{requestId}]`. */
export function tokenTopic(token: string, path = 'data', requestId?: number): string {
  const base = `kp1/${APP_VERSION}/${ECHO}/${token}/${path}`;
  return requestId === undefined ? base : `${base}/${requestId}`;
}

/** The dev provider's table (see the header). */
function testCredentials(users: string[] = [], tokenCount = 2): DevCredentials {
  const credentials: DevCredentials = {
    users: {
      [DEVICE.username]: { password: DEVICE.password },
      [GATEWAY.username]: { password: GATEWAY.password, clientId: 'gateway-1-client' },
    },
    tokens: { 'blocked-token': { endpointId: 'endpoint-blocked', blocked: true } },
    certificates: {},
  };
  for (const user of users) credentials.users[user] = { password: passwordOf(user) };
  for (let n = 1; n <= Math.max(tokenCount, 2); n++) credentials.tokens[`token-${n}`] = { endpointId: `endpoint-${n}` };
  return credentials;
}

type Tree = Record<string, unknown>;

export interface StackOptions {
  /** Deep-merged over the default test config (kpc-process.ts) of the KPC started with the stack. */
  kpcConfig?: Tree;
  /** Extra environment variables of the KPC started with the stack (e.g. KAA_* overrides). */
  kpcEnv?: Record<string, string>;
  /** Start no KPC with the stack: the test starts its own with `stack.startKpc()`. */
  noKpc?: boolean;
  /** Users `u` with password `pw-u`, added to the credentials. */
  users?: string[];
  /** Tokens `token-1` … `token-N` of endpoints `endpoint-1` … `endpoint-N` (default and at least 2). */
  tokens?: number;
  /** Extra nats-server arguments (e.g. a cluster port, for a second server routed to this one). */
  natsArgs?: string[];
  /**
   * The KPC started with the stack listens on TLS (client certificates optional) and WebSocket
   * besides TCP; the fresh test PKI's device certificate is known to the provider as `credentialId`.
   */
  transports?: { credentialId: string };
  /**
   * A Tekton (17/SCMP) stand-in serving these app-configs per service instance name; the KPC started
   * with the stack reads its applications from it (`kaa.tekton`, 1 s timeout).
   */
  tekton?: Record<string, unknown>;
  /** A 3-node NATS cluster instead of one server; the provider, echo and the observer (`nc`) each on a node. */
  cluster?: { providerNode: number; echoNode: number; observerNode: number };
}

export interface Stack {
  /** The nats-server (single-server stacks; throws for a cluster stack). */
  readonly nats: NatsServerHandle;
  /** The NATS cluster (cluster stacks only). */
  cluster: NatsCluster | undefined;
  /** Read live by the provider: tests may add users, tokens and certificates. */
  credentials: DevCredentials;
  provider: DevEcapProvider;
  echo: EchoExtension;
  echoUnaware: EchoExtension;
  /** The test's own NATS connection (reconnects forever): publish raw bytes, watch subjects. */
  nc: NatsConnection;
  /** Every 9/ELCE event since the stack started. */
  elce: ElceRecorder;
  /** The KPC started with the stack (throws with `noKpc`). */
  readonly kpc: KpcHandle;
  /** With `tekton`: the stand-in (change its configs and modes live). */
  tekton: TektonStandIn | undefined;
  /** With `transports`: the test PKI (removed by `stop()`) and the TLS and WebSocket ports of `kpc`. */
  transports: { pki: TestPki; tlsPort: number; wsPort: number } | undefined;
  /** Another KPC on this NATS (default NATS URLs: the server, or every cluster node); stopped with the stack. */
  startKpc(opts?: Partial<StartKpcOptions>): Promise<KpcHandle>;
  /** Registers a valid token with a unique endpoint id. */
  newToken(prefix?: string): { token: string; endpointId: string };
  /** Connects user `user` (password `pw-{user}`) with a short unique MQTT client id; ended with the stack. */
  connect(kpc: KpcHandle, user: string, opts?: IClientOptions): Promise<TestClient>;
  /** The client speaks for `token`: a request on it is answered, and `kpc` announces the endpoint `connected`. */
  speakFor(kpc: KpcHandle, client: TestClient, token: string): Promise<void>;
  /**
   * An extension push (status 200, payload `marker`, resource path `/command`) to `endpointId`, on
   * the KPC instance subject from `nc`: messages published this way reach KPC in publish order.
   */
  push(endpointId: string, marker: string): Promise<void>;
  stop(): Promise<void>;
}

const quietLogger = { info: () => {}, warn: () => {} };

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const cluster = opts.cluster ? await startNatsCluster({ size: 3 }) : undefined;
  const nats = cluster ? undefined : await startNatsServer({ args: opts.natsArgs });
  const urlsOf = (node: number) => (cluster ? cluster.urls([node]) : [nats!.url]);
  const placement = opts.cluster ?? { providerNode: 0, echoNode: 0, observerNode: 0 };

  const credentials = testCredentials(opts.users, opts.tokens);
  const provider = new DevEcapProvider({ natsUrls: urlsOf(placement.providerNode), credentials, logger: quietLogger });
  const echo = new EchoExtension({ natsUrls: urlsOf(placement.echoNode), instanceName: ECHO, logger: quietLogger });
  const echoUnaware = new EchoExtension({ natsUrls: urlsOf(placement.echoNode), instanceName: ECHO_UNAWARE, logger: quietLogger });
  const kpcs: KpcHandle[] = [];
  const clients: TestClient[] = [];
  let nc: NatsConnection | undefined;
  let elce: ElceRecorder | undefined;
  let pki: TestPki | undefined;
  let tekton: TektonStandIn | undefined;

  const stop = async () => {
    await Promise.all(clients.map((client) => client.client.endAsync(true).catch(() => {})));
    await Promise.all(kpcs.map((kpc) => kpc.stop('SIGKILL')));
    elce?.stop();
    await Promise.all([provider.stop(), echo.stop(), echoUnaware.stop(), nc?.close()]);
    await Promise.all([(cluster ?? nats!).stop(), tekton?.stop()]);
    pki?.cleanup();
  };

  try {
    await Promise.all([provider.start(), echo.start(), echoUnaware.start()]);
    nc = await connectToNats(urlsOf(placement.observerNode), 'e2e-test-observer');
    elce = await ElceRecorder.start(nc);
    const observer = nc;
    const recorder = elce;

    const startOne = async (kpcOpts: Partial<StartKpcOptions> = {}) => {
      const kpc = await startKpc({ natsUrls: cluster ? cluster.urls() : [nats!.url], ...kpcOpts });
      kpcs.push(kpc);
      return kpc;
    };

    let transports: Stack['transports'];
    let kpcConfig = opts.kpcConfig ?? {};
    if (opts.transports) {
      pki = await createTestPki();
      const [wsPort, tlsPort] = [await getFreePort(), await getFreePort()];
      kpcConfig = deepMerge(mqttTransportConfig({ ws: wsListener(wsPort), tls: tlsListener(pki, tlsPort, 'optional') }), kpcConfig);
      credentials.certificates![pki.clients.device.ecapKey] = { credentialId: opts.transports.credentialId };
      transports = { pki, wsPort, tlsPort };
    }
    if (opts.tekton) {
      tekton = await TektonStandIn.start(opts.tekton);
      kpcConfig = deepMerge({ kaa: { tekton: { enabled: true, url: tekton.url, timeout: '1s' } } }, kpcConfig);
    }
    const mainKpc = opts.noKpc ? undefined : await startOne({ config: kpcConfig, env: opts.kpcEnv });

    return {
      get nats() {
        if (!nats) throw new Error('this stack runs a NATS cluster: use stack.cluster');
        return nats;
      },
      cluster,
      credentials,
      provider,
      echo,
      echoUnaware,
      nc: observer,
      elce: recorder,
      get kpc() {
        if (!mainKpc) throw new Error('this stack was started with noKpc: use the KPCs from stack.startKpc()');
        return mainKpc;
      },
      transports,
      tekton,
      startKpc: startOne,
      newToken(prefix = 'tok') {
        const token = uniqueId(prefix);
        const endpointId = uniqueId('ep');
        credentials.tokens[token] = { endpointId };
        return { token, endpointId };
      },
      async connect(kpc, user, clientOpts = {}) {
        const clientId = `${user.slice(0, 12)}-${randomBytes(3).toString('hex')}`; // aedes refuses ids over 23 characters
        const client = await TestClient.connect(kpc.mqttUrl, { clientId, username: user, password: passwordOf(user), ...clientOpts }, clientId);
        clients.push(client);
        return client;
      },
      async speakFor(kpc, client, token) {
        const endpointId = credentials.tokens[token]?.endpointId;
        if (endpointId === undefined) throw new Error(`unknown token ${token}`);
        const since = recorder.mark();
        const topic = tokenTopic(token, 'hello', 1);
        const answer = await client.request(topic, `hello from ${client.name}`);
        if (answer.topic !== `${topic}/status`) throw new Error(`${client.name} speaking for ${token}: answered on ${answer.topic}: ${answer.payload.toString()}`);
        await recorder.waitFor((e) => listing('connected', endpointId)(e) && e.originatorReplicaId === kpc.replicaId, `connected ${endpointId} from ${kpc.replicaId}`, {
          since,
        });
      },
      async push(endpointId, marker) {
        observer.publish(subjects.instanceExtensionData('kpc'), pushData(endpointId, marker));
        await observer.flush();
      },
      stop,
    };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
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
