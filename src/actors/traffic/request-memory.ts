// Requests this replica forwarded, by correlationId, so that an extension's reply goes back to
// exactly the client and topic it answers, and to no other client. Bounded in size and age: extensions
// need not answer every message, and a reply after the bound is routed as a push instead.
// `S` is a key of the session (its connection id), not the session: a request nobody answers must
// not keep an ended session's actors and journals alive for the memory's whole age bound.
import type { MeteredEndpoint } from './traffic-meter.js';

export interface RememberedRequest<S> {
  session: S;
  topic: string;
  qos: 0 | 1;
  at: number;
  /** The endpoint the request came from (endpoint-aware instances): its reply counts as traffic sent to it. */
  endpoint: MeteredEndpoint | null;
  endpointId: string | null;
}

export class RequestMemory<S> {
  private readonly requests = new Map<string, RememberedRequest<S>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly maxEntries: number,
    private readonly maxAgeMs: number,
  ) {
    this.sweeper = setInterval(() => this.forgetOlderThan(Date.now() - this.maxAgeMs), Math.min(maxAgeMs, 10_000));
    this.sweeper.unref();
  }

  get size(): number {
    return this.requests.size;
  }

  remember(
    correlationId: string, session: S, topic: string, qos: 0 | 1, at: number,
    endpoint: MeteredEndpoint | null = null, endpointId: string | null = null,
  ): void {
    if (this.requests.size >= this.maxEntries) {
      // Map iteration order is insertion order: the first key is the oldest request.
      this.requests.delete(this.requests.keys().next().value!);
    }
    this.requests.set(correlationId, { session, topic, qos, at, endpoint, endpointId });
  }

  /** The request a reply answers, forgotten as it is returned. */
  take(correlationId: string): RememberedRequest<S> | undefined {
    const request = this.requests.get(correlationId);
    if (request !== undefined) this.requests.delete(correlationId);
    return request;
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  private forgetOlderThan(cutoff: number): void {
    for (const [correlationId, request] of this.requests) {
      if (request.at >= cutoff) break;
      this.requests.delete(correlationId);
    }
  }
}
