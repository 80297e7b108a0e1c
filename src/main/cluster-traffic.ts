// Everything that arrives from NATS besides ECAP replies: ExtensionData (replies and pushes, with
// cross-replica forwarding), revocations, connectivity events (roaming and the cluster table),
// replica heartbeats and the endpoint lists replicas exchange when they first hear of each other.
import type { Logger } from 'pino';
import { ClusterTable } from '../actors/cluster/cluster-table.js';
import { ExtensionDataRouter } from '../actors/traffic/extension-data-router.js';
import type { Registry } from '../actors/registry/registry.js';
import { ReplicaLiveness } from '../actors/cluster/replica-liveness.js';
import type { RequestMemory } from '../actors/traffic/request-memory.js';
import type { TrafficMeter } from '../actors/traffic/traffic-meter.js';
import type { UndecodableMessages } from '../infra/nats/undecodable-messages.js';
import type { KpcConfig } from '../infra/config/types.js';
import type { Metrics } from '../infra/metrics.js';
import type { NatsLink } from '../infra/nats/connection.js';
import { subscribeConnectivity, type ConnectivityEvents } from '../infra/nats/elce.js';
import { subscribeExtensionData } from '../infra/nats/esp-subscriptions.js';
import { runEndpointSync } from '../infra/nats/endpoint-sync.js';
import { runHeartbeats } from '../infra/nats/heartbeat.js';
import { subscribeRevocations } from '../infra/nats/revocation.js';
import { subjects } from '../infra/nats/subjects.js';

export interface ClusterTraffic {
  /** Tells the other replicas this one is leaving (clean shutdown, before NATS is drained). */
  announceLeaving(): void;
  /** Stops the timers. */
  stop(): void;
  /**
   * A sibling worker died (its primary saw it exit): announce its endpoints disconnected on its
   * behalf, so every replica stops routing to it at once; returns how many were announced.
   */
  siblingDied(replicaId: string): number;
}

/** Subscribes everything. */
export function wireClusterTraffic(
  link: NatsLink,
  config: KpcConfig,
  registry: Registry,
  /** Requests by the connection id of the client session that sent them. */
  requests: RequestMemory<string>,
  traffic: TrafficMeter,
  metrics: Metrics,
  logger: Logger,
  undecodable: UndecodableMessages,
  connectivity: ConnectivityEvents,
): ClusterTraffic {
  const { instanceName, replicaId } = config.service;
  const { heartbeatIntervalMs, missedHeartbeats } = config.kpc.cluster;

  const cluster = new ClusterTable();
  const sync = runEndpointSync(link, replicaId, undecodable, {
    heldHere: () => registry.heldEndpoints(),
    learned: (replica, endpoints) => {
      cluster.learned(endpoints, replica);
      logger.debug({ event: 'cluster.learned', replica, endpoints: Object.keys(endpoints).length }, 'learned the endpoints a replica holds');
    },
  });
  const liveness = new ReplicaLiveness(
    replicaId,
    heartbeatIntervalMs * missedHeartbeats,
    (gone) => {
      const endpoints = Object.keys(cluster.forgetReplica(gone)).length;
      logger.warn({ event: 'replica.gone', replica: gone, endpoints }, 'replica stopped heartbeating; its endpoints are no longer routed to it');
    },
    (replica) => sync.ask(replica),
  );

  const router = new ExtensionDataRouter({
    requests,
    liveSession: (id) => registry.replyTarget(id),
    holderOf: (endpointId) => registry.holderOf(endpointId),
    remoteReplicaOf: (endpointId) => {
      const replica = cluster.replicaOf(endpointId);
      return replica === replicaId ? undefined : replica;
    },
    forwardToReplica: (replica, bytes) => link.connection.publish(subjects.replicaExtensionData(replica), bytes),
    logger,
    maxPacketBytes: config.kpc.mqtt.maxPacketBytes,
    count: (outcome) => metrics.extensionData.inc({ outcome }),
    traffic,
    answered: (ms) => metrics.extensionReplied(ms / 1000),
  });
  subscribeExtensionData(link, { replicaId, instanceName }, undecodable, {
    received: (data, bytes, viaInstance) => router.route(data, bytes, viaInstance),
    undecodable: () => metrics.extensionData.inc({ outcome: 'undecodable' }),
    noResponders: () => metrics.extensionData.inc({ outcome: 'no-responders' }),
  });

  subscribeRevocations(link, undecodable, {
    credentialRevoked: (event) => metrics.countRevocations('credential', registry.credentialRevoked(event.credentialId)),
    tokenRevoked: (event) => metrics.countRevocations('token', registry.tokenRevoked(event.endpointId, event.tokenIds)),
    clientCredentialsRevoked: (event) =>
      metrics.countRevocations('credential', registry.credentialRevoked(event.credentialsId, event.tenantId)),
  });

  subscribeConnectivity(link, undecodable, {
    connected: (event) => {
      liveness.seen(event.originatorReplicaId, Date.now());
      cluster.connected(event.endpoints, event.originatorReplicaId);
      registry.endpointsConnected(event);
    },
    disconnected: (event) => cluster.disconnected(Object.keys(event.endpoints), event.originatorReplicaId),
  });

  const heartbeats = runHeartbeats(link, { instanceName, replicaId, intervalMs: heartbeatIntervalMs }, undecodable, {
    alive: (replica) => liveness.seen(replica, Date.now()),
    leaving: (replica) => {
      if (replica === replicaId) return;
      liveness.left(replica);
      const endpoints = Object.keys(cluster.forgetReplica(replica)).length;
      logger.info({ event: 'replica.left', replica, endpoints }, 'replica shut down cleanly; its endpoints are no longer routed to it');
    },
  });
  const sweeper = setInterval(() => liveness.sweep(Date.now()), heartbeatIntervalMs);
  sweeper.unref();
  return {
    announceLeaving: () => heartbeats.announceLeaving(),
    stop: () => {
      heartbeats.stop();
      clearInterval(sweeper);
    },
    siblingDied: (replica) => {
      liveness.left(replica);
      const endpoints = cluster.forgetReplica(replica);
      const count = Object.keys(endpoints).length;
      if (count > 0) connectivity.announceDisconnected(endpoints, replica);
      logger.warn({ event: 'worker.gone', replica, endpoints: count }, 'sibling worker died; its endpoints are announced disconnected on its behalf');
      return count;
    },
  };
}
