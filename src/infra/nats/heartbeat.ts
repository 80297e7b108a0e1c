// Replica heartbeats: KPC's own subject (no Kaa RFC covers replica liveness). The payload is a
// small JSON object; only KPC replicas of one cluster read it.
import type { NatsLink } from './connection.js';
import type { UndecodableMessages } from './decode-or-warn.js';
import { parseJson } from './endpoint-sync.js';
import { subjects } from './subjects.js';

interface Heartbeat {
  replicaId: string;
}

/** Publishes this replica's heartbeat every `intervalMs` and reports everyone's; returns a stop function. */
export function runHeartbeats(
  nats: NatsLink,
  options: { instanceName: string; replicaId: string; intervalMs: number },
  undecodable: UndecodableMessages,
  onHeartbeat: (replicaId: string) => void,
): () => void {
  const subject = subjects.replicaHeartbeat(options.instanceName);
  const beat = Buffer.from(JSON.stringify({ replicaId: options.replicaId } satisfies Heartbeat));
  nats.subscribe(subject, (msg) => {
    const heartbeat = undecodable.decode(() => parseJson<Heartbeat>(msg.data), subject, msg.subject, 'replica heartbeat');
    if (typeof heartbeat?.replicaId === 'string') onHeartbeat(heartbeat.replicaId);
  });
  const timer = setInterval(() => {
    if (nats.isConnected) nats.connection.publish(subject, beat);
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
