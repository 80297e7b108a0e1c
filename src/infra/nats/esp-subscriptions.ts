// 4/ESP inbound: ExtensionData on this replica's subject, and on the instance-wide subject shared
// by all replicas in one queue group (SPEC §6).
import type { NatsLink } from './connection.js';
import { subjects } from './subjects.js';

/**
 * `viaInstance` is true for the instance-wide subject (any replica may get it, so it may have to be
 * forwarded to the replica holding the endpoint) and false for this replica's own subject.
 */
export function subscribeExtensionData(
  nats: NatsLink,
  options: { replicaId: string; instanceName: string },
  handle: (bytes: Uint8Array, subject: string, viaInstance: boolean) => void,
  noResponders: () => void,
): void {
  nats.subscribe(subjects.replicaExtensionData(options.replicaId), (msg) => {
    // A ClientData published to an extension instance nobody serves comes back as NATS's empty
    // "no responders" status (503) on its reply subject: not an ExtensionData, and not an error of KPC.
    if (msg.data.length === 0 && msg.headers?.code === 503) return noResponders();
    handle(msg.data, msg.subject, false);
  });
  nats.subscribe(subjects.instanceExtensionData(options.instanceName), (msg) => handle(msg.data, msg.subject, true), options.instanceName);
}
