// Replica heartbeats: KPC's own subject (no Kaa RFC covers replica liveness). The payload is a
// small JSON object; only KPC replicas of one cluster read it. A replica that shuts down cleanly
// says so on the same subject (`"leaving": true`), so the others forget it at once instead of
// waiting for its heartbeats to stop and warning that it vanished.
import type { Logger } from 'pino';
import type { NatsLink } from './connection.js';
import { subjects } from './subjects.js';

interface Heartbeat {
  replicaId: string;
  /** Set on the last message of a replica that shuts down cleanly. */
  leaving?: true;
}

export interface HeartbeatListener {
  alive(replicaId: string): void;
  leaving(replicaId: string): void;
}

export interface Heartbeats {
  /** Stops publishing heartbeats. */
  stop(): void;
  /** Stops publishing heartbeats and tells the other replicas this one is leaving (before NATS is drained). */
  announceLeaving(): void;
}

/** Publishes this replica's heartbeat every `intervalMs` and reports everyone's. */
export function runHeartbeats(
  nats: NatsLink,
  options: { instanceName: string; replicaId: string; intervalMs: number },
  logger: Logger,
  listener: HeartbeatListener,
): Heartbeats {
  const subject = subjects.replicaHeartbeat(options.instanceName);
  const message = (leaving: boolean) => Buffer.from(JSON.stringify({ replicaId: options.replicaId, ...(leaving ? { leaving } : {}) } satisfies Heartbeat));
  const beat = message(false);
  nats.subscribe(subject, (msg) => {
    try {
      const { replicaId, leaving } = JSON.parse(Buffer.from(msg.data).toString('utf8')) as Heartbeat;
      if (typeof replicaId !== 'string') return;
      if (leaving === true) listener.leaving(replicaId);
      else listener.alive(replicaId);
    } catch {
      logger.warn({ subject }, 'malformed replica heartbeat ignored');
    }
  });
  const timer = setInterval(() => {
    if (nats.isConnected) nats.connection.publish(subject, beat);
  }, options.intervalMs);
  timer.unref();
  const stop = () => clearInterval(timer);
  return {
    stop,
    announceLeaving: () => {
      stop();
      if (nats.isConnected) nats.connection.publish(subject, message(true));
    },
  };
}
