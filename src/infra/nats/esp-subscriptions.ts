// 4/ESP inbound: ExtensionData on this replica's subject, and on the instance-wide subject shared
// by all replicas in one queue group. Decoded here; what does not decode is counted, reported (at
// most one log line per subject per interval) and dropped.
import { codecs, type ExtensionData } from './codecs.js';
import type { NatsLink } from './connection.js';
import type { UndecodableMessages } from './undecodable-messages.js';
import { subjects } from './subjects.js';

export interface ExtensionDataHandler {
  /**
   * `bytes` is the message as received (forwarded unchanged to another replica if need be);
   * `viaInstance` is true for the instance-wide subject (any replica may get it, so it may have to
   * be forwarded to the replica holding the endpoint) and false for this replica's own subject.
   */
  received(data: ExtensionData, bytes: Uint8Array, viaInstance: boolean): void;
  undecodable(): void;
  /** A ClientData for an extension instance nobody serves came back as NATS's "no responders". */
  noResponders(): void;
}

export function subscribeExtensionData(
  nats: NatsLink,
  options: { replicaId: string; instanceName: string },
  undecodable: UndecodableMessages,
  handler: ExtensionDataHandler,
): void {
  const decodeAndHandle = (bytes: Uint8Array, subject: string, viaInstance: boolean): void => {
    // Both subjects are exact (no wildcards), so the subject is also the subscription.
    const data = undecodable.decode(() => codecs.extensionData.decode(bytes), subject, subject, 'ExtensionData');
    if (data === undefined) return handler.undecodable();
    handler.received(data, bytes, viaInstance);
  };
  nats.subscribe(subjects.replicaExtensionData(options.replicaId), (msg) => {
    // A ClientData published to an extension instance nobody serves comes back as NATS's empty
    // "no responders" status (503) on its reply subject: not an ExtensionData, and not an error of KPC.
    if (msg.data.length === 0 && msg.headers?.code === 503) return handler.noResponders();
    decodeAndHandle(msg.data, msg.subject, false);
  });
  nats.subscribe(subjects.instanceExtensionData(options.instanceName), (msg) => decodeAndHandle(msg.data, msg.subject, true), options.instanceName);
}
