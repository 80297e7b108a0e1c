// Replica heartbeats: KPC's own subject (no Kaa RFC covers replica liveness). The payload is a
// small JSON object; only KPC replicas of one cluster read it.
import type { Logger } from 'pino';
import type { NatsLink } from './connection.js';
import { subjects } from './subjects.js';

interface Heartbeat {
  replicaId: string;
}

/** Publishes this replica's heartbeat every `intervalMs` and reports everyone's; returns a stop function. */
export function runHeartbeats(
  nats: NatsLink,
  options: { instanceName: string; replicaId: string; intervalMs: number },
  logger: Logger,
  onHeartbeat: (replicaId: string) => void,
): () => void {
  const subject = subjects.replicaHeartbeat(options.instanceName);
  const beat = Buffer.from(JSON.stringify({ replicaId: options.replicaId } satisfies Heartbeat));
  nats.subscribe(subject, (msg) => {
    try {
      const { replicaId } = JSON.parse(Buffer.from(msg.data).toString('utf8')) as Heartbeat;
      if (typeof replicaId === 'string') onHeartbeat(replicaId);
    } catch {
      logger.warn({ subject }, 'malformed replica heartbeat ignored');
    }
  });
  const timer = setInterval(() => {
    if (nats.isConnected) nats.connection.publish(subject, beat);
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
