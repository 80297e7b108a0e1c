// Decides WHEN the real ECAP provider sees a validation request, so that a model test can observe
// the state a session is in while it waits (authenticating, identifying) and then let the answer
// come, as the chart's `ecap.replied` step says.
//
// KPC is configured to address the provider as `gatedInstance`; this gate listens there and
// re-publishes each request, bytes and reply subject untouched, to the dev ECAP provider
// (`providerInstance`), which answers KPC directly. Requests for watched keys (a username, a
// certificate's `issuer|serial`, a token) are held until `release()`; all others pass at once.
// The gate never answers anything itself: what the answer says is the provider's business.
import type { Msg, NatsConnection, Subscription } from 'nats';
import { codecs } from '../../../src/infra/nats/codecs.js';
import { subjects } from '../../../src/infra/nats/subjects.js';

export type EcapRequestKind = 'username-password' | 'certificate' | 'token';

interface Held {
  kind: EcapRequestKind;
  key: string;
  msg: Msg;
}

const requestSubject: Record<EcapRequestKind, (instance: string) => string> = {
  'username-password': subjects.usernamePasswordRequest,
  certificate: subjects.certificateRequest,
  token: subjects.tokenRequest,
};

/** What a request is held by: the username, `issuer|serialNumber`, or the token. */
function keyOf(kind: EcapRequestKind, data: Uint8Array): string {
  if (kind === 'username-password') return codecs.usernamePasswordRequest.decode(data).username ?? '';
  if (kind === 'certificate') {
    const { issuer, serialNumber } = codecs.certificateRequest.decode(data);
    return `${issuer}|${serialNumber}`;
  }
  return codecs.tokenRequest.decode(data).token;
}

export class EcapGate {
  private readonly watched = new Set<string>();
  private readonly held: Held[] = [];
  private readonly subscriptions: Subscription[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly providerInstance: string,
  ) {}

  /** Subscribes on the gated instance's request subjects; resolves once the server has them. */
  static async start(nc: NatsConnection, gatedInstance: string, providerInstance: string): Promise<EcapGate> {
    const gate = new EcapGate(nc, providerInstance);
    for (const kind of Object.keys(requestSubject) as EcapRequestKind[]) {
      gate.subscriptions.push(nc.subscribe(requestSubject[kind](gatedInstance), { callback: (error, msg) => error || gate.onRequest(kind, msg) }));
    }
    await nc.flush();
    return gate;
  }

  /** Requests carrying this key are held from now on. */
  watch(key: string): void {
    this.watched.add(key);
  }

  /** How many requests of this kind and key are being held. */
  holding(kind: EcapRequestKind, key: string): number {
    return this.held.filter((h) => h.kind === kind && h.key === key).length;
  }

  /**
   * Lets the held requests of this kind and key through to the provider (waiting up to
   * `timeoutMs` for one to arrive); resolves once they are on their way.
   */
  async release(kind: EcapRequestKind, key: string, timeoutMs = 3_000): Promise<number> {
    if (this.holding(kind, key) === 0) await this.until(() => this.holding(kind, key) > 0, timeoutMs, `an ECAP ${kind} request for ${key}`);
    const released = this.held.filter((h) => h.kind === kind && h.key === key);
    for (const request of released) {
      this.held.splice(this.held.indexOf(request), 1);
      this.forward(request.kind, request.msg);
    }
    await this.nc.flush();
    return released.length;
  }

  /** Forgets every watched key and drops every held request (their sessions time out, if still waiting). */
  reset(): void {
    this.watched.clear();
    this.held.length = 0;
  }

  stop(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.reset();
  }

  private onRequest(kind: EcapRequestKind, msg: Msg): void {
    let key: string;
    try {
      key = keyOf(kind, msg.data);
    } catch {
      key = ''; // not a request: the provider will say so
    }
    if (!this.watched.has(key)) return this.forward(kind, msg);
    this.held.push({ kind, key, msg });
    for (const waiter of [...this.waiters]) waiter();
  }

  private forward(kind: EcapRequestKind, msg: Msg): void {
    this.nc.publish(requestSubject[kind](this.providerInstance), msg.data, msg.reply === undefined ? {} : { reply: msg.reply });
  }

  private until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`ECAP gate: no ${what} arrived within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }
}
