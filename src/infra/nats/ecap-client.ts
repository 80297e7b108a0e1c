// 16/ECAP consumer: sends validation requests to the credential provider with this replica's reply
// subjects (3/ISM session affinity) and matches replies to requests by correlationId. Every request
// settles: with the reply, or with `timeout` shortly after the deadline. The sessions' charts own
// the deadline itself (their `after` fires first and is what their journals record); settling here
// only makes sure no caller, e.g. a validation shared by several sessions, waits forever.
import { randomUUID } from 'node:crypto';
import type { Msg } from 'nats';
import type { Logger } from 'pino';
import type { ClientCredentialVerdict, CredentialValidator, TokenVerdict, ValidationOutcome } from '../../actors/ports.js';
import { statusLabel } from '../metrics.js';
import { codecs, type Codec } from './codecs.js';
import type { NatsLink } from './connection.js';
import type { UndecodableMessages } from './decode-or-warn.js';
import { subjects, type EcapResponseType } from './subjects.js';

export interface EcapMetrics {
  ecapRequest(type: string): void;
  ecapOutcome(type: string, outcome: string): void;
}

/** How long after the deadline an unanswered request is settled as timed out. */
const SETTLE_GRACE_MS = 250;

interface Pending {
  type: EcapResponseType;
  timer: NodeJS.Timeout;
  resolve: (outcome: ValidationOutcome<never>) => void;
}

const responseCodecs: Record<EcapResponseType, Codec<{ correlationId: string }>> = {
  'client-username-password-response': codecs.usernamePasswordResponse,
  'client-certificate-response': codecs.certificateResponse,
  'ep-token-response': codecs.tokenResponse,
};

export class EcapClient implements CredentialValidator {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly nats: NatsLink,
    private readonly options: { replicaId: string; providerInstance: string; timeoutMs: number },
    private readonly logger: Logger,
    private readonly metrics: EcapMetrics,
    private readonly undecodable: UndecodableMessages,
  ) {}

  /** The 16/ECAP provider's service instance name, for log lines about its answers. */
  get provider(): string {
    return this.options.providerInstance;
  }

  start(): void {
    this.nats.subscribe(subjects.ecapResponses(this.options.replicaId), (msg) => this.onResponse(msg));
  }

  stop(): void {
    for (const [correlationId, pending] of this.pending) this.settle(correlationId, pending, { ok: false, reason: 'timeout' });
  }

  validateUsernamePassword(username: string | null, password: string | null): Promise<ValidationOutcome<ClientCredentialVerdict>> {
    return this.request('client-username-password-response', subjects.usernamePasswordRequest(this.options.providerInstance),
      (correlationId) => codecs.usernamePasswordRequest.encode({ ...this.envelope(correlationId), username, password }));
  }

  validateCertificate(issuer: string, serialNumber: string): Promise<ValidationOutcome<ClientCredentialVerdict>> {
    return this.request('client-certificate-response', subjects.certificateRequest(this.options.providerInstance),
      (correlationId) => codecs.certificateRequest.encode({ ...this.envelope(correlationId), issuer, serialNumber }));
  }

  validateToken(appName: string, token: string): Promise<ValidationOutcome<TokenVerdict>> {
    return this.request('ep-token-response', subjects.tokenRequest(this.options.providerInstance),
      (correlationId) => codecs.tokenRequest.encode({ ...this.envelope(correlationId), appName, token }));
  }

  private envelope(correlationId: string) {
    return { correlationId, timestamp: Date.now(), timeout: this.options.timeoutMs };
  }

  private request<T>(type: EcapResponseType, subject: string, encode: (correlationId: string) => Uint8Array): Promise<ValidationOutcome<T>> {
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
      }, this.options.timeoutMs + SETTLE_GRACE_MS);
      this.pending.set(correlationId, { type, timer, resolve: resolve as Pending['resolve'] });
      try {
        this.nats.connection.publish(subject, encode(correlationId), { reply: subjects.ecapResponse(this.options.replicaId, type) });
      } catch (error) {
        this.logger.warn({ err: error, subject }, 'ECAP request could not be published');
        this.metrics.ecapOutcome(type, 'nats-unavailable');
        this.settle(correlationId, this.pending.get(correlationId), { ok: false, reason: 'nats-unavailable' });
      }
    });
  }

  private onResponse(msg: Msg): void {
    const type = msg.subject.slice(msg.subject.lastIndexOf('.') + 1) as EcapResponseType;
    const codec = responseCodecs[type];
    if (codec === undefined) {
      this.undecodable.report(subjects.ecapResponses(this.options.replicaId), 'message of unknown type on an ECAP reply subject', { subject: msg.subject });
      return;
    }
    let reply: { correlationId: string };
    try {
      reply = codec.decode(msg.data);
    } catch (error) {
      // An undecodable reply cannot be matched to its request: that request times out (CONNACK 3 / 503).
      this.metrics.ecapOutcome(type, 'undecodable-reply');
      this.undecodable.report(subjects.ecapResponses(this.options.replicaId), 'ECAP reply', { subject: msg.subject, bytes: msg.data.length, err: (error as Error).message });
      return;
    }
    const pending = this.pending.get(reply.correlationId);
    if (pending === undefined) {
      this.metrics.ecapOutcome(type, 'late-or-unknown');
      this.logger.debug({ subject: msg.subject, correlationId: reply.correlationId }, 'ECAP reply for no outstanding request');
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
