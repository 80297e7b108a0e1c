// Keeps authentication floods cheap (issue: 1 000 bad connects/s must not starve good clients):
// - at most `maxInFlight` ECAP client validations per transport; past it CONNACK 3 at once, so no
//   queue grows anywhere;
// - a username/password the provider just refused is refused again from memory (by hash) for the
//   negative-cache period, without asking the provider.
import { createHash } from 'node:crypto';
import type { Transport } from '../machines/client-session.machine.js';

export class AuthenticationGate {
  private readonly inFlight = new Map<Transport, number>();
  private readonly refused = new Map<string, { statusCode: number; until: number }>();

  constructor(
    private readonly maxInFlight: number,
    private readonly negativeCacheMs: number,
  ) {}

  /** Takes a validation slot for this transport, or returns false when all are taken. */
  tryAcquire(transport: Transport): boolean {
    const current = this.inFlight.get(transport) ?? 0;
    if (current >= this.maxInFlight) return false;
    this.inFlight.set(transport, current + 1);
    return true;
  }

  release(transport: Transport): void {
    this.inFlight.set(transport, Math.max(0, (this.inFlight.get(transport) ?? 0) - 1));
  }

  /** The status the provider recently gave these exact credentials, if it refused them. */
  recentRefusal(username: string | null, password: string | null, now: number): number | undefined {
    const key = credentialKey(username, password);
    const refusal = this.refused.get(key);
    if (refusal === undefined) return undefined;
    if (refusal.until > now) return refusal.statusCode;
    this.refused.delete(key);
    return undefined;
  }

  rememberRefusal(username: string | null, password: string | null, statusCode: number, now: number): void {
    if (this.refused.size >= MAX_REMEMBERED_REFUSALS) this.refused.delete(this.refused.keys().next().value!);
    this.refused.set(credentialKey(username, password), { statusCode, until: now + this.negativeCacheMs });
  }
}

/** Bounds the memory an attacker with random passwords can make the cache take. */
const MAX_REMEMBERED_REFUSALS = 10_000;

function credentialKey(username: string | null, password: string | null): string {
  return createHash('sha256').update(`${username ?? ''}\0${password ?? ''}`).digest('base64');
}
