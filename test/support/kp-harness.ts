// Shared setup for the protocol end-to-end tests (CONNACK, 1/KP errors, relay, mosquitto): a real
// nats-server, the dev ECAP provider, the two echo extensions of the default test config, the BUILT
// KPC, and small helpers to talk to it with real MQTT clients and watch NATS and /metrics.
// Every wait here is bounded and rejects with a message that says what was awaited.
import { waitUntil } from './waiting.js';
import { randomBytes } from 'node:crypto';
import { connect as connectNats, type NatsConnection, type Subscription } from 'nats';
import { connect as connectMqtt, type IClientOptions, type MqttClient, type IConnackPacket, type IPublishPacket } from 'mqtt';
import { DevEcapProvider, type DevCredentials } from '../../dev/ecap-provider.js';
import { EchoExtension } from '../../dev/echo-extension.js';
import { startKpc, type KpcHandle } from './kpc-process.js';
import { startNatsServer, type NatsServerHandle } from './nats-server.js';
import { connectClient } from './mqtt-client.js';

export const APP_NAME = 'demo_application';
export const APP_VERSION = 'demo_application_v1';
export const ECHO = 'echo';
export const ECHO_UNAWARE = 'echo-unaware';

export const DEVICE = { username: 'device-1', password: 'secret-1' } as const;
export const GATEWAY = { username: 'gateway-1', password: 'secret-2' } as const;

/** The dev provider's table for these tests; tests add their own tokens to it (it is read live). */
export function testCredentials(): DevCredentials {
  return {
    users: {
      [DEVICE.username]: { password: DEVICE.password },
      [GATEWAY.username]: { password: GATEWAY.password, clientId: 'gateway-1-client' },
    },
    tokens: {
      'token-1': { endpointId: 'endpoint-1' },
      'token-2': { endpointId: 'endpoint-2' },
      'blocked-token': { endpointId: 'endpoint-blocked', blocked: true },
    },
    certificates: {},
  };
}

const quietLogger = { info: () => {}, warn: () => {} };

/** A short random suffix for client ids, tokens and endpoint ids. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export interface Stack {
  nats: NatsServerHandle;
  provider: DevEcapProvider;
  credentials: DevCredentials;
  echo: EchoExtension;
  echoUnaware: EchoExtension;
  kpc: KpcHandle;
  /** The test's own NATS connection (publish raw bytes, watch events). */
  nc: NatsConnection;
  /** Another KPC on the same NATS (e.g. with a different configuration); stopped with the stack. */
  startExtraKpc(config: Record<string, unknown>): Promise<KpcHandle>;
  /** Registers a valid token with a unique endpoint id in the provider's table. */
  newToken(prefix?: string): { token: string; endpointId: string };
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Deep-merged over the default test config of the main KPC. */
  kpcConfig?: Record<string, unknown>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const nats = await startNatsServer();
  const credentials = testCredentials();
  const provider = new DevEcapProvider({ natsUrls: nats.url, credentials, logger: quietLogger });
  const echo = new EchoExtension({ natsUrls: nats.url, instanceName: ECHO, logger: quietLogger });
  const echoUnaware = new EchoExtension({ natsUrls: nats.url, instanceName: ECHO_UNAWARE, logger: quietLogger });
  const kpcs: KpcHandle[] = [];
  let nc: NatsConnection | undefined;
  const stop = async () => {
    await Promise.all(kpcs.map((kpc) => kpc.stop()));
    await Promise.all([provider.stop(), echo.stop(), echoUnaware.stop(), nc?.close()]);
    await nats.stop();
  };
  try {
    await Promise.all([provider.start(), echo.start(), echoUnaware.start()]);
    nc = await connectNats({ servers: nats.url, name: 'e2e test', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const startOne = async (config: Record<string, unknown> = {}) => {
      const kpc = await startKpc({ natsUrls: [nats.url], config });
      kpcs.push(kpc);
      return kpc;
    };
    const kpc = await startOne(opts.kpcConfig);
    return {
      nats,
      provider,
      credentials,
      echo,
      echoUnaware,
      kpc,
      nc,
      startExtraKpc: startOne,
      newToken(prefix = 'tok') {
        const token = uniqueId(prefix);
        const endpointId = uniqueId('ep');
        credentials.tokens[token] = { endpointId };
        return { token, endpointId };
      },
      stop,
    };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}

// ---- MQTT ----

/** Connects with a fresh unique MQTT client id (3.1.1 unless `opts` says otherwise). */
export function connectAs(kpc: KpcHandle, user: { username: string; password: string } | null, opts: IClientOptions = {}): Promise<MqttClient> {
  return connectClient(kpc.mqttUrl, { clientId: uniqueId('e2e'), ...(user ?? {}), ...opts });
}

/** Like connectClient, but also hands back the CONNACK packet (for `sessionPresent`). */
export function connectWithConnack(url: string, opts: IClientOptions): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  return new Promise((resolve, reject) => {
    const client = connectMqtt(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
    client.on('error', () => {});
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
    client.once('close', () => reject(new Error(`connection to ${url} closed before CONNACK`)));
    client.once('connect', (connack) => resolve({ client, connack }));
  });
}

export interface Received {
  topic: string;
  payload: Buffer;
  qos: number;
}

/**
 * Records every PUBLISH a client receives from the moment it is created (subscribed or not: KPC
 * delivers responses and pushes without a subscription).
 */
export class Inbox {
  readonly messages: Received[] = [];
  private listeners = new Set<() => void>();

  constructor(readonly client: MqttClient) {
    client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      this.messages.push({ topic, payload: Buffer.from(payload), qos: packet.qos });
      for (const listener of [...this.listeners]) listener();
    });
  }

  /** The first message, received before or after this call, on `topic` (or matching the predicate). */
  waitFor(topic: string | ((topic: string) => boolean), timeoutMs = 5_000): Promise<Received> {
    const matches = typeof topic === 'string' ? (t: string) => t === topic : topic;
    const found = this.messages.find((message) => matches(message.topic));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const listener = () => {
        const message = this.messages.find((m) => matches(m.topic));
        if (!message) return;
        this.listeners.delete(listener);
        clearTimeout(timer);
        resolve(message);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        const seen = this.messages.map((m) => m.topic).join(', ') || 'nothing';
        reject(new Error(`no PUBLISH on ${typeof topic === 'string' ? topic : 'a matching topic'} within ${timeoutMs} ms (received: ${seen})`));
      }, timeoutMs);
      this.listeners.add(listener);
    });
  }

  topics(): string[] {
    return this.messages.map((message) => message.topic);
  }
}

/** The next PUBLISH (from now on) whose topic satisfies `matches`; rejects after `timeoutMs`. */
export function nextMessage(client: MqttClient, matches: (topic: string) => boolean, timeoutMs = 5_000): Promise<Received> {
  return new Promise((resolve, reject) => {
    const onMessage = (topic: string, payload: Buffer, packet: IPublishPacket) => {
      if (!matches(topic)) return;
      client.off('message', onMessage);
      clearTimeout(timer);
      resolve({ topic, payload: Buffer.from(payload), qos: packet.qos });
    };
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no matching PUBLISH within ${timeoutMs} ms`));
    }, timeoutMs);
    client.on('message', onMessage);
  });
}

/** Publishes a request and resolves with its response (`<topic>/status` or `<topic>/error`). */
export async function request(inbox: Inbox, topic: string, payload: string | Buffer, qos: 0 | 1 = 1, timeoutMs = 5_000): Promise<Received> {
  const response = inbox.waitFor((t) => t === `${topic}/status` || t === `${topic}/error`, timeoutMs);
  await inbox.client.publishAsync(topic, payload, { qos });
  return response;
}

/** The SUBACK return code for one filter (0x80 = failure), whatever mqtt.js makes of it. */
export function subackCode(client: MqttClient, filter: string, qos: 0 | 1 | 2): Promise<number> {
  return new Promise((resolve, reject) => {
    client.subscribe(filter, { qos }, (error, _granted, packet) => {
      const granted = (packet as { granted?: Array<number | { qos: number }> } | undefined)?.granted;
      if (!granted || granted.length !== 1) return reject(error ?? new Error(`no SUBACK for ${filter}`));
      const code = granted[0]!;
      resolve(typeof code === 'number' ? code : code.qos);
    });
  });
}

export function kpTopic(...levels: Array<string | number>): string {
  return ['kp1', ...levels].join('/');
}

/** A JSON 1/KP error payload, parsed. */
export function errorBody(message: Received): unknown {
  return JSON.parse(message.payload.toString('utf8'));
}

// ---- waiting on anything else ----

/** A metric's current value from GET /metrics (0 when the series has no sample yet). */
export async function metricValue(kpc: KpcHandle, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${kpc.httpUrl}/metrics`)).text();
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? '').split(',').filter(Boolean);
    if (wanted.length === present.length && wanted.every((label) => present.includes(label))) return Number(match[3]);
  }
  return 0;
}

/** Every message on a NATS subject (wildcards allowed), decoded, from subscription on. */
export class NatsRecorder<T> {
  readonly messages: Array<{ subject: string; value: T }> = [];
  private readonly subscription: Subscription;

  private constructor(nc: NatsConnection, subject: string, decode: (subject: string, data: Uint8Array) => T) {
    this.subscription = nc.subscribe(subject, {
      callback: (error, msg) => {
        if (!error) this.messages.push({ subject: msg.subject, value: decode(msg.subject, msg.data) });
      },
    });
  }

  /** Subscribes and waits until the server has the subscription. */
  static async start<T>(nc: NatsConnection, subject: string, decode: (subject: string, data: Uint8Array) => T): Promise<NatsRecorder<T>> {
    const recorder = new NatsRecorder(nc, subject, decode);
    await nc.flush();
    return recorder;
  }

  matching(predicate: (message: { subject: string; value: T }) => boolean): Array<{ subject: string; value: T }> {
    return this.messages.filter(predicate);
  }

  waitFor(what: string, predicate: (message: { subject: string; value: T }) => boolean, timeoutMs = 5_000) {
    return waitUntil(() => this.messages.find(predicate), what, { timeoutMs });
  }

  stop(): void {
    this.subscription.unsubscribe();
  }
}
