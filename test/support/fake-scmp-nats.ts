// NATS as the Tekton routing source sees it (subscribe, status listeners), without a server:
// tests deliver 17/SCMP configuration events by subject and fire reconnects themselves. Shared by
// the unit tests of TektonRoutingSource and the routing-source chart's model test.
import type { Msg, Subscription } from 'nats';
import type { Logger } from 'pino';
import { codecs } from '../../src/infra/nats/codecs.js';
import type { NatsStatusListener } from '../../src/infra/nats/connection.js';

export class FakeScmpNats {
  readonly handlers = new Map<string, (msg: Msg) => void>();
  readonly unsubscribed: string[] = [];
  readonly listeners: NatsStatusListener[] = [];

  subscribe(subject: string, handler: (msg: Msg) => void): Subscription {
    this.handlers.set(subject, handler);
    return { unsubscribe: () => this.unsubscribed.push(subject), getSubject: () => subject } as unknown as Subscription;
  }

  addListener(listener: NatsStatusListener): void {
    this.listeners.push(listener);
  }

  /** Delivers `data` to the subscription whose subject pattern matches `subject`. */
  deliver(subject: string, data: Uint8Array): void {
    const pattern = [...this.handlers.keys()].find((p) => new RegExp(`^${p.replace(/\./g, '\\.').replace(/\*/g, '[^.]+')}$`).test(subject));
    if (pattern === undefined) throw new Error(`no subscription for ${subject}`);
    this.handlers.get(pattern)!({ subject, data } as Msg);
  }
}

export function recordingLogger() {
  const lines: Array<{ level: string; fields: unknown; message?: string }> = [];
  const at = (level: string) => (fields: unknown, message?: string) => void lines.push({ level, fields, message });
  const logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal') } as unknown as Logger;
  return { logger, lines };
}

export const broadcastEvent = (): Uint8Array =>
  codecs.broadcastConfigurationUpdate.encode({ correlationId: 'c', timestamp: 1, originatorReplicaId: 'r', tenantID: null, appName: null, appVerName: null });
export const targetedEvent = (): Uint8Array => codecs.serviceConfigurationUpdate.encode({ correlationId: 'c', timestamp: 1, tenantID: 't', appName: 'app', appVerName: 'v1' });

