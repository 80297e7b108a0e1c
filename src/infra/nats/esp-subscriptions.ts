// 4/ESP inbound: ExtensionData on this replica's subject, and on the instance-wide subject shared
// by all replicas in one queue group (SPEC §6).
import type { NatsLink } from './connection.js';
import { subjects } from './subjects.js';

export function subscribeExtensionData(
  nats: NatsLink,
  options: { replicaId: string; instanceName: string },
  handle: (bytes: Uint8Array, subject: string) => void,
): void {
  nats.subscribe(subjects.replicaExtensionData(options.replicaId), (msg) => handle(msg.data, msg.subject));
  nats.subscribe(subjects.instanceExtensionData(options.instanceName), (msg) => handle(msg.data, msg.subject), options.instanceName);
}
