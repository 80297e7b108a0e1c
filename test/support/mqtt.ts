// THE mqtt.js helper of the tests: connecting well-behaved MQTT clients (credentials, TLS, ws,
// clean or persistent sessions: any mqtt.js option) and talking 1/KP through them.
//
//   connectClient(url, opts)        → MqttClient; rejects with the CONNACK code in `code` if refused
//   connectWithConnack(url, opts)   → the same, plus the CONNACK packet (`sessionPresent`)
//   connackCode(url, opts)          → the CONNACK return code, 0 included
//   TestClient                      → wraps an MqttClient: records every PUBLISH it receives,
//                                     1/KP `request()`, waits on messages and on close
//   connectAs(kpc, user, opts)      → connectClient to a KPC with a fresh unique client id
//   withClients(kpc, users, body)   → body(...TestClients), disconnected afterwards
//   kpTopic, errorBody, subackCode(s) → small 1/KP and SUBSCRIBE helpers
//
// Hand-built packets (protocol violations, byte-level control, hundreds of cheap connections) are a
// different job, in raw-mqtt.ts: mqtt.js refuses to send what those tests must send.
//
// No automatic reconnection anywhere: a refused or dropped connection stays visible to the test.
// Every wait is bounded and rejects with a message that says what was awaited.
import { randomBytes } from 'node:crypto';
import { connect, type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import { ChangeWaiters } from './waiting.js';

const testDefaults: IClientOptions = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 };

/** A refused CONNECT: `code` is the CONNACK return code (4 bad username or password, 5 not authorized). */
export interface ConnackError extends Error {
  code?: number | string;
}

/** The connected client and its CONNACK; rejects with the CONNACK return code in `code` on refusal. */
export function connectWithConnack(url: string, opts: IClientOptions = {}): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  return new Promise((resolve, reject) => {
    const client = connect(url, { ...testDefaults, ...opts });
    // mqtt.js emits 'error' for a server that drops the socket too; an EventEmitter 'error' with no
    // listener would crash the test worker, and tests watch 'close' (or add their own listener).
    client.on('error', () => {});
    let settled = false;
    const refuse = (error: ConnackError) => {
      if (settled) return;
      settled = true;
      client.end(true);
      reject(error);
    };
    client.once('error', (error) => refuse(error));
    client.once('close', () => refuse(new Error(`connection to ${url} closed before CONNACK`)));
    client.once('connect', (connack) => {
      if (settled) return;
      settled = true;
      resolve({ client, connack });
    });
  });
}

/** Resolves with the connected client; rejects with the CONNACK return code in `code` on refusal. */
export async function connectClient(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return (await connectWithConnack(url, opts)).client;
}

/** A short random suffix for client ids, tokens and endpoint ids. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** Connects to `kpc` with a fresh unique MQTT client id (3.1.1 unless `opts` says otherwise). */
export function connectAs(kpc: { mqttUrl: string }, user: { username: string; password: string } | null, opts: IClientOptions = {}): Promise<MqttClient> {
  return connectClient(kpc.mqttUrl, { clientId: uniqueId('e2e'), ...(user ?? {}), ...opts });
}

/** Runs `body` with one TestClient per user (connectAs: fresh client ids); always disconnects them. */
export async function withClients(
  kpc: { mqttUrl: string },
  users: Array<{ username: string; password: string } | null>,
  body: (...clients: TestClient[]) => Promise<void>,
): Promise<void> {
  const clients: MqttClient[] = [];
  try {
    for (const user of users) clients.push(await connectAs(kpc, user));
    await body(...clients.map((client) => new TestClient(client)));
  } finally {
    await Promise.all(clients.map((client) => client.endAsync()));
  }
}

/** The CONNACK return code for a CONNECT with `opts`, 0 included; the client disconnects afterwards. */
export async function connackCode(url: string, opts: IClientOptions = {}): Promise<number> {
  try {
    const client = await connectClient(url, opts);
    await client.endAsync();
    return 0;
  } catch (error) {
    const code = (error as ConnackError).code;
    if (typeof code === 'number') return code;
    throw error;
  }
}

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  qos: number;
}

/**
 * An mqtt.js client that records every PUBLISH it receives from the moment it is wrapped
 * (subscribed or not: KPC delivers 1/KP responses and pushes without a subscription) and every
 * close, and turns QoS 1 publishes into promises that settle on PUBACK or reject when the
 * connection closes first (mqtt.js itself would leave them pending forever).
 */
export class TestClient {
  readonly messages: ReceivedMessage[] = [];
  /** Rejecters of publishes not acknowledged yet: all rejected when the connection closes. */
  private readonly unacknowledged = new Set<(error: Error) => void>();
  private readonly waiters = new ChangeWaiters();
  private closedAt: number | undefined;

  constructor(
    /** The wrapped mqtt.js client. */
    readonly client: MqttClient,
    /** Names the client in failure messages. */
    readonly name = 'client',
  ) {
    client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      this.messages.push({ topic, payload: Buffer.from(payload), qos: packet.qos });
      this.waiters.changed();
    });
    client.on('close', () => {
      this.closedAt ??= Date.now();
      const error = new Error(`${name}: connection closed before PUBACK`);
      for (const reject of [...this.unacknowledged]) reject(error);
      this.unacknowledged.clear();
      this.waiters.changed();
    });
  }

  /** Connects (rejects with the CONNACK code in `code` if refused). */
  static async connect(url: string, opts: IClientOptions = {}, name = opts.clientId ?? 'client'): Promise<TestClient> {
    return new TestClient(await connectClient(url, opts), name);
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  /** Resolves on PUBACK; rejects if the connection is (or gets) closed first. */
  publishQos1(topic: string, payload: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.isClosed || !this.client.connected) return reject(new Error(`${this.name}: not connected`));
      const settle = (error?: Error) => {
        if (!this.unacknowledged.delete(rejecter)) return;
        if (error) reject(error);
        else resolve();
      };
      const rejecter = (error: Error) => reject(error);
      this.unacknowledged.add(rejecter);
      this.client.publish(topic, payload, { qos: 1 }, (error) => settle(error ?? undefined));
    });
  }

  /**
   * Publishes a 1/KP request (the topic ends with a request id, or it is a fire-and-forget topic
   * that KPC answers anyway) and resolves with the answer that arrives afterwards on
   * `{topic}/status` or `{topic}/error`.
   */
  async request(topic: string, payload: string | Buffer, opts: { qos?: 0 | 1; timeoutMs?: number } = {}): Promise<ReceivedMessage> {
    const { qos = 1, timeoutMs = 10_000 } = opts;
    const answered = this.waitForMessage((m) => m.topic === `${topic}/status` || m.topic === `${topic}/error`, `an answer on ${topic}/status|error`, {
      since: this.messages.length,
      timeoutMs,
    });
    if (qos === 1) await this.publishQos1(topic, payload);
    else await this.client.publishAsync(topic, payload, { qos });
    return answered;
  }

  /** The first message, received before or after this call, on `topic` (or whose topic matches). */
  waitFor(topic: string | ((topic: string) => boolean), timeoutMs = 5_000): Promise<ReceivedMessage> {
    const matches = typeof topic === 'string' ? (t: string) => t === topic : topic;
    return this.waitForMessage((m) => matches(m.topic), typeof topic === 'string' ? `a PUBLISH on ${topic}` : 'a PUBLISH on a matching topic', { timeoutMs });
  }

  /** The topics of every message received so far, in order. */
  topics(): string[] {
    return this.messages.map((message) => message.topic);
  }

  /** The first message at or after index `since` (past or future) that matches. */
  waitForMessage(match: (message: ReceivedMessage) => boolean, what: string, opts: { since?: number; timeoutMs?: number } = {}): Promise<ReceivedMessage> {
    const { since = 0, timeoutMs = 10_000 } = opts;
    const received = () => this.messages.slice(since).map((m) => `  ${m.topic} ${m.payload.toString().slice(0, 80)}`);
    return this.waiters.waitFor(
      () => this.messages.slice(since).find(match),
      timeoutMs,
      () => new Error(`${this.name} received ${what}: not within ${timeoutMs} ms; received:\n${received().join('\n') || '  (nothing)'}`),
    );
  }

  /** Resolves once the connection has closed. */
  async waitForClose(timeoutMs = 10_000): Promise<void> {
    await this.waiters.waitFor(() => this.isClosed, timeoutMs, () => new Error(`${this.name}'s connection closed: not within ${timeoutMs} ms`));
  }

  /** A clean DISCONNECT; resolves once the connection is closed. */
  async end(): Promise<void> {
    if (this.isClosed) return;
    await this.client.endAsync();
  }
}

/** The SUBACK return codes of one SUBSCRIBE with these filters, in order (0x80 = refused), whatever mqtt.js makes of them. */
export function subackCodes(client: MqttClient, filters: string[], qos: 0 | 1 | 2): Promise<number[]> {
  return new Promise((resolve, reject) => {
    client.subscribe(Object.fromEntries(filters.map((filter) => [filter, { qos }])), (error, _granted, packet) => {
      const granted = (packet as { granted?: Array<number | { qos: number }> } | undefined)?.granted;
      if (!granted || granted.length !== filters.length) return reject(error ?? new Error(`no SUBACK for ${filters.join(', ')}`));
      resolve(granted.map((code) => (typeof code === 'number' ? code : code.qos)));
    });
  });
}

/** The SUBACK return code for one filter. */
export async function subackCode(client: MqttClient, filter: string, qos: 0 | 1 | 2): Promise<number> {
  return (await subackCodes(client, [filter], qos))[0]!;
}

/** `kp1/{levels...}`. */
export function kpTopic(...levels: Array<string | number>): string {
  return ['kp1', ...levels].join('/');
}

/** A JSON 1/KP error payload, parsed. */
export function errorBody(message: ReceivedMessage): unknown {
  return JSON.parse(message.payload.toString('utf8'));
}
