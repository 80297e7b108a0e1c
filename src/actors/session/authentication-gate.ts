// Keeps authentication floods cheap (issue: 1 000 bad connects/s must not starve good clients):
// - at most `maxInFlight` client validations (16/ECAP or 22/CAP) per transport; past it CONNACK 3 at once, so no
//   queue grows anywhere;
// - a username/password the provider just refused is refused again from memory (by hash) for the
//   negative-cache period, without asking the provider — only answers the client session chart
//   treats as refusals (its isCredentialRefusal); a 429 or a 5xx is asked again next time;
// - identical credentials arriving while they are being validated share that one validation.
import { createHash } from 'node:crypto';
import { isCredentialRefusal, type Transport as MqttTransport } from '../../machines/client-session.machine.js';
import type { ClientCredentialVerdict, ValidationOutcome } from '../ports.js';

/** Validation slots are counted per MQTT listener, and for 1/KP over HTTP (Basic credentials). */
type Transport = MqttTransport | 'http';

type Validation = Promise<ValidationOutcome<ClientCredentialVerdict>>;

export class AuthenticationGate {
  private readonly inFlight = new Map<Transport, number>();
  private readonly refused = new Map<string, { statusCode: number; until: number }>();
  private readonly validating = new Map<string, Validation>();

  constructor(
    private readonly maxInFlight: number,
    private readonly negativeCacheMs: number,
  ) {}

  /** Whether a validation slot of this transport is free; the client session chart decides whether to take it. */
  hasFreeSlot(transport: Transport): boolean {
    return (this.inFlight.get(transport) ?? 0) < this.maxInFlight;
  }

  take(transport: Transport): void {
    this.inFlight.set(transport, (this.inFlight.get(transport) ?? 0) + 1);
  }

  release(transport: Transport): void {
    this.inFlight.set(transport, Math.max(0, (this.inFlight.get(transport) ?? 0) - 1));
  }

  /** Validates username/password with `ask` (the provider), unless memory or a running validation answers. */
  validate(key: CredentialKey, ask: () => Validation, now = Date.now()): Validation {
    const refusedWith = this.recentRefusal(key, now);
    if (refusedWith !== undefined) return Promise.resolve(refusal(refusedWith));
    const running = this.validating.get(key);
    if (running !== undefined) return running;

    const validation = ask().then((outcome) => {
      if (this.validating.get(key) === validation) this.validating.delete(key);
      if (outcome.ok && isCredentialRefusal(outcome.reply.statusCode)) this.rememberRefusal(key, outcome.reply.statusCode, Date.now());
      return outcome;
    });
    this.validating.set(key, validation);
    return validation;
  }

  /** A validation that let a session time out is not shared with later attempts. */
  abandon(key: CredentialKey): void {
    this.validating.delete(key);
  }

  private recentRefusal(key: string, now: number): number | undefined {
    const refusal = this.refused.get(key);
    if (refusal === undefined) return undefined;
    if (refusal.until > now) return refusal.statusCode;
    this.refused.delete(key);
    return undefined;
  }

  private rememberRefusal(key: string, statusCode: number, now: number): void {
    // Entries expire in insertion order (one negative-cache period each): drop the expired ones
    // from the front, so the cache holds only the refusals of the last period, not a high-water mark.
    for (const [oldKey, refusal] of this.refused) {
      if (refusal.until > now) break;
      this.refused.delete(oldKey);
    }
    if (this.refused.size >= MAX_REMEMBERED_REFUSALS) this.refused.delete(this.refused.keys().next().value!);
    this.refused.set(key, { statusCode, until: now + this.negativeCacheMs });
  }
}

/** Bounds the memory an attacker with random passwords can make the cache take. */
const MAX_REMEMBERED_REFUSALS = 10_000;

function refusal(statusCode: number): ValidationOutcome<ClientCredentialVerdict> {
  return { ok: true, reply: { statusCode, clientId: null, credentialId: null, reasonPhrase: null, tenantId: null } };
}

/** Credentials as the gate remembers them: a hash, never the password itself. */
export type CredentialKey = string;

export function credentialKey(username: string | null, password: string | null): CredentialKey {
  return createHash('sha256').update(`${username ?? ''}\0${password ?? ''}`).digest('base64');
}
