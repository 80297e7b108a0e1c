// Request/reply over NATS the Kaa way (3/ISM): a request goes to a service instance's subject with
// a reply subject on this replica, and its answer is matched by correlationId. Every request
// settles: with the reply, or with `timeout` shortly after the deadline. The sessions' charts own
// the deadline itself (their `after` fires first and is what their journals record); settling here
// only makes sure no caller, e.g. a validation shared by several sessions, waits forever.
// Used by the 16/ECAP and 22/CAP clients.
//
// Batching: the NATS client writes to its socket in a microtask after a publish, i.e. once per
// socket read of each MQTT client, and a storm of CONNECTs made that one write per request.
// Requests are therefore handed to the NATS client once per event-loop turn (setImmediate), so the
// requests of every CONNECT read in one turn share one NATS write.
import { randomUUID } from 'node:crypto';
import type { Msg } from 'nats';
import type { Logger } from 'pino';
import type { ValidationOutcome } from '../../actors/ports.js';
import { statusLabel } from '../metrics.js';
import type { Codec } from './codecs.js';
import type { NatsLink } from './connection.js';
import type { UndecodableMessages } from './undecodable-messages.js';

export interface ProviderMetrics {
  ecapRequest(type: string): void;
  ecapOutcome(type: string, outcome: string): void;
}

/** How long after the deadline an unanswered request is settled as timed out. */
const SETTLE_GRACE_MS = 250;

interface Pending {
  type: string;
  timer: NodeJS.Timeout;
  resolve: (outcome: ValidationOutcome<never>) => void;
}

/** Encoded, waiting for the end of this event-loop turn. */
interface Queued<Type> {
  correlationId: string;
  type: Type;
  subject: string;
  data: Uint8Array;
}

/**
 * `responseCodecs` maps the last level of each reply subject (the response type) to its codec;
 * `replySubject(type)` is where this replica receives that type.
 */
export class CorrelatedRequests<Type extends string> {
  private readonly pending = new Map<string, Pending>();
  private queued: Array<Queued<Type>> = [];
  /** `replySubject(type)`, built once per type. */
  private readonly replyOptions = new Map<Type, { reply: string }>();

  constructor(
    private readonly nats: NatsLink,
    private readonly responseCodecs: Record<Type, Codec<{ correlationId: string }>>,
    private readonly replySubject: (type: Type) => string,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
    private readonly metrics: ProviderMetrics,
    /** Anyone on the bus can send junk to a reply subject: counted, logged at most once per interval. */
    private readonly undecodable: UndecodableMessages,
    /** Names the protocol in log lines: `ECAP`, `CAP`. */
    private readonly protocol: string,
  ) {}

  private wildcard = '';

  /** Subscribes to `wildcard` (every reply subject of this replica for the protocol). */
  start(wildcard: string): void {
    this.wildcard = wildcard;
    this.nats.subscribe(wildcard, (msg) => this.onResponse(msg));
  }

  stop(): void {
    for (const [correlationId, pending] of this.pending) this.settle(correlationId, pending, { ok: false, reason: 'timeout' });
  }

  envelope(correlationId: string) {
    return { correlationId, timestamp: Date.now(), timeout: this.timeoutMs };
  }

  request<T>(type: Type, subject: string, encode: (correlationId: string) => Uint8Array): Promise<ValidationOutcome<T>> {
    this.metrics.ecapRequest(type);
    if (!this.nats.isConnected) {
      this.metrics.ecapOutcome(type, 'nats-unavailable');
      return Promise.resolve({ ok: false, reason: 'nats-unavailable' });
    }
    const correlationId = randomUUID();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.metrics.ecapOutcome(type, 'timeout');
        this.settle(correlationId, this.pending.get(correlationId), { ok: false, reason: 'timeout' });
      }, this.timeoutMs + SETTLE_GRACE_MS);
      this.pending.set(correlationId, { type, timer, resolve: resolve as Pending['resolve'] });
      let data: Uint8Array;
      try {
        data = encode(correlationId);
      } catch (error) {
        this.notSent(correlationId, type, subject, error);
        return;
      }
      this.queued.push({ correlationId, type, subject, data });
      if (this.queued.length === 1) setImmediate(this.sendQueued);
    });
  }

  private readonly sendQueued = (): void => {
    const batch = this.queued;
    this.queued = [];
    for (const { correlationId, type, subject, data } of batch) {
      if (!this.pending.has(correlationId)) continue; // settled meanwhile (stop())
      try {
        if (!this.nats.isConnected) throw new Error('NATS is not connected');
        this.nats.connection.publish(subject, data, this.replyOptionsOf(type));
      } catch (error) {
        this.notSent(correlationId, type, subject, error);
      }
    }
  };

  private replyOptionsOf(type: Type): { reply: string } {
    let options = this.replyOptions.get(type);
    if (options === undefined) this.replyOptions.set(type, (options = { reply: this.replySubject(type) }));
    return options;
  }

  private notSent(correlationId: string, type: Type, subject: string, error: unknown): void {
    this.logger.warn({ err: error, subject }, `${this.protocol} request could not be published`);
    this.metrics.ecapOutcome(type, 'nats-unavailable');
    this.settle(correlationId, this.pending.get(correlationId), { ok: false, reason: 'nats-unavailable' });
  }

  private onResponse(msg: Msg): void {
    const type = msg.subject.slice(msg.subject.lastIndexOf('.') + 1) as Type;
    const codec = Object.hasOwn(this.responseCodecs, type) ? this.responseCodecs[type] : undefined;
    if (codec === undefined) {
      this.undecodable.report(this.wildcard, `message of unknown type on a ${this.protocol} reply subject`, { subject: msg.subject });
      return;
    }
    let reply: { correlationId: string };
    try {
      reply = codec.decode(msg.data);
    } catch (error) {
      // An undecodable reply cannot be matched to its request: that request times out (CONNACK 3 / 503).
      this.metrics.ecapOutcome(type, 'undecodable-reply');
      this.undecodable.report(this.wildcard, `${this.protocol} reply`, { subject: msg.subject, bytes: msg.data.length, err: (error as Error).message });
      return;
    }
    const pending = this.pending.get(reply.correlationId);
    if (pending === undefined) {
      this.metrics.ecapOutcome(type, 'late-or-unknown');
      this.logger.debug({ subject: msg.subject, correlationId: reply.correlationId }, `${this.protocol} reply for no outstanding request`);
      return;
    }
    this.metrics.ecapOutcome(type, statusLabel((reply as unknown as { statusCode: number }).statusCode));
    this.settle(reply.correlationId, pending, { ok: true, reply: reply as never });
  }

  private settle(correlationId: string, pending: Pending | undefined, outcome: ValidationOutcome<never>): void {
    if (pending === undefined) return;
    clearTimeout(pending.timer);
    this.pending.delete(correlationId);
    pending.resolve(outcome);
  }
}
