// Sustained QoS 1 load over TestClients, for the outage, shutdown and cluster tests.
import type { TestClient } from './mqtt.js';

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
