// Replica heartbeats: KPC's own subject (no Kaa RFC covers replica liveness). The payload is a
// small JSON object; only KPC replicas of one cluster read it. A replica that shuts down cleanly
// says so on the same subject (`"leaving": true`), so the others forget it at once instead of
// waiting for its heartbeats to stop and warning that it vanished.
import type { NatsLink } from './connection.js';
import type { UndecodableMessages } from './undecodable-messages.js';
import { parseJson } from './endpoint-sync.js';
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
  undecodable: UndecodableMessages,
  listener: HeartbeatListener,
): Heartbeats {
  const subject = subjects.replicaHeartbeat(options.instanceName);
  const message = (leaving: boolean) => Buffer.from(JSON.stringify({ replicaId: options.replicaId, ...(leaving ? { leaving } : {}) } satisfies Heartbeat));
  const beat = message(false);
  nats.subscribe(subject, (msg) => {
    const heartbeat = undecodable.decode(() => parseJson<Heartbeat>(msg.data), subject, msg.subject, 'replica heartbeat');
    if (typeof heartbeat?.replicaId !== 'string') return;
    if (heartbeat.leaving === true) listener.leaving(heartbeat.replicaId);
    else listener.alive(heartbeat.replicaId);
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
