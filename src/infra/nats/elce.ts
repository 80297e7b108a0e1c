// 9/ELCE endpoint connectivity events: published through the confirmed publisher so a
// NATS outage does not lose them, and received from every replica (including this one).
import { randomUUID } from 'node:crypto';
import type { ConnectivityAnnouncer } from '../../actors/ports.js';
import { codecs, type ConnectivityEvent } from './codecs.js';
import type { ConfirmedPublisher } from './confirmed-publisher.js';
import type { NatsLink } from './connection.js';
import type { UndecodableMessages } from './undecodable-messages.js';
import { subjects } from './subjects.js';

export class ConnectivityEvents implements ConnectivityAnnouncer {
  constructor(
    private readonly publisher: ConfirmedPublisher,
    private readonly options: { instanceName: string; replicaId: string },
    private readonly counted: (type: 'connected' | 'disconnected') => void,
  ) {}

  announceConnected(endpoints: Record<string, string>): void {
    this.announce('connected', subjects.endpointConnected(this.options.instanceName), codecs.endpointConnected.encode(this.event(endpoints)));
  }

  /**
   * `originatorReplicaId` is this replica, except when announcing for a sibling worker that died:
   * the event then names the dead replica, so every cluster table clears exactly what it held.
   */
  announceDisconnected(endpoints: Record<string, string>, originatorReplicaId = this.options.replicaId): void {
    const event = this.event(endpoints, originatorReplicaId);
    this.announce('disconnected', subjects.endpointDisconnected(this.options.instanceName), codecs.endpointDisconnected.encode(event));
  }

  private event(endpoints: Record<string, string>, originatorReplicaId = this.options.replicaId): ConnectivityEvent {
    return { correlationId: randomUUID(), timestamp: Date.now(), timeout: 0, endpoints, originatorReplicaId };
  }

  private announce(type: 'connected' | 'disconnected', subject: string, data: Buffer): void {
    // Over capacity the event is still worth trying once; a lost one is corrected by the next.
    this.publisher.publish(subject, data);
    this.counted(type);
  }
}

export interface ConnectivityHandler {
  connected(event: ConnectivityEvent): void;
  disconnected(event: ConnectivityEvent): void;
}

/** Every replica's connectivity events, this one's included. */
export function subscribeConnectivity(nats: NatsLink, undecodable: UndecodableMessages, handler: ConnectivityHandler): void {
  nats.subscribe(subjects.connectivityEvents, (msg) => {
    const connected = msg.subject.endsWith('.connected');
    if (!connected && !msg.subject.endsWith('.disconnected')) return;
    const codec = connected ? codecs.endpointConnected : codecs.endpointDisconnected;
    const event = undecodable.decode(() => codec.decode(msg.data), subjects.connectivityEvents, msg.subject, 'ELCE event');
    if (event === undefined) return;
    if (connected) handler.connected(event);
    else handler.disconnected(event);
  });
}
