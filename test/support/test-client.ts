// An mqtt.js client for the lifecycle tests (no automatic reconnection: a dropped connection stays
// dropped and visible). It records every PUBLISH KPC sends it (KPC delivers without a
// subscription) and every close, and turns QoS 1 publishes into promises that settle on PUBACK,
// or reject when the connection closes first (mqtt.js itself would leave them pending forever).
import type { IClientOptions, MqttClient } from 'mqtt';
import { connectClient } from './mqtt-client.js';

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
}

export class TestClient {
  readonly messages: ReceivedMessage[] = [];
  /** Rejecters of publishes not acknowledged yet: all rejected when the connection closes. */
  private readonly unacknowledged = new Set<(error: Error) => void>();
  private readonly waiters = new Set<() => void>();
  private closedAt: number | undefined;

  private constructor(
    readonly mqtt: MqttClient,
    readonly name: string,
  ) {
    mqtt.on('message', (topic, payload) => {
      this.messages.push({ topic, payload });
      this.notify();
    });
    mqtt.on('close', () => {
      this.closedAt ??= Date.now();
      const error = new Error(`${name}: connection closed before PUBACK`);
      for (const reject of [...this.unacknowledged]) reject(error);
      this.unacknowledged.clear();
      this.notify();
    });
  }

  /** Connects (rejects with the CONNACK code in `code` if refused). */
  static async connect(url: string, name: string, opts: IClientOptions): Promise<TestClient> {
    return new TestClient(await connectClient(url, opts), name);
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  /** Resolves on PUBACK; rejects if the connection is (or gets) closed first. */
  publishQos1(topic: string, payload: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.isClosed || !this.mqtt.connected) return reject(new Error(`${this.name}: not connected`));
      const settle = (error?: Error) => {
        if (!this.unacknowledged.delete(rejecter)) return;
        if (error) reject(error);
        else resolve();
      };
      const rejecter = (error: Error) => reject(error);
      this.unacknowledged.add(rejecter);
      this.mqtt.publish(topic, payload, { qos: 1 }, (error) => settle(error ?? undefined));
    });
  }

  /**
   * Publishes a request (the topic ends with a request id) and resolves with its answer on
   * `{topic}/status` or `{topic}/error`.
   */
  async request(topic: string, payload: string | Buffer, timeoutMs = 10_000): Promise<ReceivedMessage> {
    const since = this.messages.length;
    const answered = this.waitForMessage((m) => m.topic === `${topic}/status` || m.topic === `${topic}/error`, `an answer on ${topic}/status|error`, {
      since,
      timeoutMs,
    });
    await this.publishQos1(topic, payload);
    return answered;
  }

  /** The first message at or after `since` (past or future) that matches. */
  waitForMessage(
    match: (message: ReceivedMessage) => boolean,
    what: string,
    opts: { since?: number; timeoutMs?: number } = {},
  ): Promise<ReceivedMessage> {
    const { since = 0, timeoutMs = 10_000 } = opts;
    return this.waitFor(() => this.messages.slice(since).find(match), `${this.name} received ${what}`, timeoutMs, () =>
      this.messages
        .slice(since)
        .map((m) => `  ${m.topic} ${m.payload.toString().slice(0, 80)}`)
        .join('\n') || '  (nothing)',
    );
  }

  /** Resolves once the connection has closed. */
  async waitForClose(timeoutMs = 10_000): Promise<void> {
    await this.waitFor(() => this.isClosed, `${this.name}'s connection closed`, timeoutMs, () => '');
  }

  /** A clean DISCONNECT; resolves once the connection is closed. */
  async end(): Promise<void> {
    if (this.isClosed) return;
    await this.mqtt.endAsync();
  }

  private waitFor<T>(check: () => T | undefined | false, what: string, timeoutMs: number, detail: () => string): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value === undefined || value === false) return false;
        this.waiters.delete(attempt);
        clearTimeout(timer);
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(attempt);
        reject(new Error(`${what}: not within ${timeoutMs} ms; received:\n${detail()}`));
      }, timeoutMs);
      if (!attempt()) this.waiters.add(attempt);
    });
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/**
 * Sustained QoS 1 traffic: each stream (a client and a topic) keeps `inFlight` publishes
 * outstanding, every payload unique. A stream stops at its first failed publish (its connection
 * closed); the error is kept in `errors`.
 */
export class Qos1Load {
  /** Every payload handed to mqtt.js, with the phase it was published in. */
  readonly sent = new Map<string, string>();
  /** Every payload whose PUBACK arrived (counted in the publish callback). */
  readonly acked = new Set<string>();
  readonly errors: Error[] = [];
  /** A label recorded with each payload sent from now on (e.g. 'before', 'outage', 'after'). */
  phase = 'start';
  private readonly ackedPerStream: number[];
  private counter = 0;
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly streams: Array<{ client: TestClient; topic: string }>,
    private readonly inFlight: number,
  ) {
    this.ackedPerStream = streams.map(() => 0);
  }

  start(): void {
    this.loops = this.streams.flatMap((stream, index) => Array.from({ length: this.inFlight }, () => this.run(stream, index)));
  }

  /** Payloads published and not (yet) acknowledged. */
  outstanding(): string[] {
    return [...this.sent.keys()].filter((payload) => !this.acked.has(payload));
  }

  sentIn(phase: string): string[] {
    return [...this.sent].filter(([, p]) => p === phase).map(([payload]) => payload);
  }

  /** True once every stream has at least `count` acknowledged publishes. */
  everyStreamAcked(count: number): boolean {
    return this.ackedPerStream.every((acked) => acked >= count);
  }

  /** Stops publishing and waits (bounded) until every stream's last publish has settled. */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.stopping = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`QoS 1 load: publishes still unacknowledged ${timeoutMs} ms after stopping: ${this.outstanding().slice(0, 20).join(', ')}`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([Promise.all(this.loops), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async run({ client, topic }: { client: TestClient; topic: string }, index: number): Promise<void> {
    while (!this.stopping) {
      const payload = `s${index}-m${this.counter++}`;
      this.sent.set(payload, this.phase);
      try {
        await client.publishQos1(topic, payload);
      } catch (error) {
        this.errors.push(error as Error);
        return;
      }
      this.acked.add(payload);
      this.ackedPerStream[index]!++;
    }
  }
}
