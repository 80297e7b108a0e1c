// Composition root: read the configuration, build the I/O adapters, build the actor system, start,
// and stop on SIGTERM/SIGINT (SPEC §11). Read top-down, this is the whole service.
//
// One PUBLISH:  socket → TcpListener → MqttBroker.authorizePublish → ClientSession.publish
//               → RoutingTable.resolve → EndpointSession.receive → ClientDataForwarder.forward → NATS
// One reply:    NATS → subscribeExtensionData → ExtensionDataRouter.route → ClientSession.deliver → socket
import { readFileSync } from 'node:fs';
import { AuthenticationGate } from './actors/authentication-gate.js';
import { ClusterTable } from './actors/cluster-table.js';
import { ReplicaLiveness } from './actors/replica-liveness.js';
import { ClientDataForwarder } from './actors/client-data-forwarder.js';
import type { ClientSession } from './actors/client-session.js';
import { ExtensionDataRouter } from './actors/extension-data-router.js';
import { Journal } from './actors/journal.js';
import { Registry } from './actors/registry.js';
import { RequestMemory } from './actors/request-memory.js';
import { ConfigError, loadConfig } from './infra/config/load-config.js';
import type { KpcConfig } from './infra/config/types.js';
import { createManagementApp } from './infra/http/management-app.js';
import { startManagementServer } from './infra/http/management-server.js';
import { createLogger, type Logger } from './infra/logger.js';
import { Metrics } from './infra/metrics.js';
import { MqttBroker } from './infra/mqtt/mqtt-broker.js';
import { createListeners, type Listener } from './infra/mqtt/listeners.js';
import { ConfirmedPublisher } from './infra/nats/confirmed-publisher.js';
import { NatsLink } from './infra/nats/connection.js';
import { EcapClient } from './infra/nats/ecap-client.js';
import { ConnectivityEvents, subscribeConnectivity } from './infra/nats/elce.js';
import { subscribeExtensionData } from './infra/nats/esp-subscriptions.js';
import { runHeartbeats } from './infra/nats/heartbeat.js';
import { subscribeRevocations } from './infra/nats/revocation.js';
import { subjects } from './infra/nats/subjects.js';
import { RoutingTable } from './protocol/routing.js';

/** Requests remembered for replies: enough for a busy replica, bounded so silence cannot leak memory. */
const REMEMBERED_REQUESTS = { maxEntries: 200_000, maxAgeMs: 5 * 60_000 };

async function main(): Promise<void> {
  const config = readConfigOrExit();
  const { instanceName, replicaId } = config.service;
  const logger = createLogger(config.logLevel, { service: 'kpc', instance: instanceName, replicaId });
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception; exiting');
    process.exit(1);
  });

  const metrics = new Metrics();
  const routing = new RoutingTable(config.routing, subjects.clientData);
  const listeners: Listener[] = [];
  let nats: NatsLink | undefined;
  let registry: Registry | undefined;

  // Management HTTP first, so /health says why the service is not ready while it starts.
  const healthProblems = (): string[] => [
    ...(nats?.isConnected ? [] : ['NATS is not connected']),
    ...listeners.filter((listener) => !listener.listening).map((listener) => `${listener.name} listener is not listening`),
    ...(registry?.state === 'running' ? [] : [`service is ${registry?.state ?? 'starting'}`]),
  ];
  const components = (): Record<string, string> => ({
    nats: nats?.isConnected ? 'UP' : 'DOWN',
    ...Object.fromEntries(listeners.map((listener) => [listener.name, listener.listening ? 'UP' : 'DOWN'])),
  });
  const admin = config.server.adminToken === undefined ? undefined : { token: config.server.adminToken, sessions: () => registry };
  const { tls } = config.kpc.mqtt;
  const serverCertificatePem = tls.enabled ? readFileSync(tls.certFile!, 'utf8') : undefined;
  const http = await startManagementServer(
    createManagementApp({ healthProblems, components, metrics: metrics.registry, admin, serverCertificatePem }),
    config.server.port,
  );

  logger.info({ servers: config.natsUrls }, 'connecting to NATS');
  const link = (nats = await NatsLink.open(config.natsUrls, `kpc ${replicaId}`, logger));
  const publisher = new ConfirmedPublisher(link, config.kpc.maxUnconfirmed);
  const ecap = new EcapClient(link, {
    replicaId,
    providerInstance: config.kpc.authentication.serviceInstanceName,
    timeoutMs: config.kpc.authentication.timeoutMs,
  }, logger, metrics);
  const requests = new RequestMemory<ClientSession>(REMEMBERED_REQUESTS.maxEntries, REMEMBERED_REQUESTS.maxAgeMs);
  const forwarder = new ClientDataForwarder<ClientSession>(link, publisher, requests, {
    replicaId,
    extensionTimeoutMs: config.kpc.extensionTimeoutMs,
  }, { forwarded: () => metrics.clientData.inc(), overflow: () => metrics.refusedForCapacity.inc() });
  const connectivity = new ConnectivityEvents(publisher, { instanceName, replicaId }, (type) => metrics.elceEvents.inc({ type }));

  let broker: MqttBroker | undefined;
  let shutdownTimedOut = false;
  const live: Registry = (registry = new Registry(
    {
      settings: {
        anonymousAllowed: config.kpc.authentication.allowAnonymous,
        authenticationTimeoutMs: config.kpc.authentication.timeoutMs,
        negativeCacheMs: config.kpc.authentication.negativeCacheMs,
        maxHeldMessages: config.kpc.maxPendingPerToken,
      },
      replicaId,
      routing: () => routing,
      credentials: ecap,
      authentication: new AuthenticationGate(config.kpc.authentication.maxInFlight, config.kpc.authentication.negativeCacheMs),
      forwarder,
      connectivity,
      counters: {
        publishReceived: (qos) => metrics.publishesByQos[qos]!.inc(),
        kpError: (statusCode) => metrics.kpErrors.inc({ status: String(statusCode) }),
        connection: (outcome) => metrics.connections.inc({ outcome }),
        sessionEnded: (state) => metrics.sessionEnds.inc({ state }),
        roamed: () => metrics.roamed.inc(),
      },
      logger,
      newJournal: (machine) => new Journal(config.kpc.inspection.journalLength, machine),
    },
    {
      replicaId,
      gracefulShutdownMs: config.service.gracefulShutdownMs,
      maxConnections: config.kpc.mqtt.maxConnections,
      natsConnected: () => link.isConnected,
      logger,
      onActorFailed: () => metrics.failedActors.inc(),
      retainEnded: { count: config.kpc.inspection.retainEnded, forMs: config.kpc.inspection.retainEndedForMs },
    },
    {
      announceReady: () => logger.info({ event: 'service.ready', listeners: listeners.map((l) => l.name) }, 'KPC is ready'),
      stopAccepting: () => {
        logger.info({ event: 'service.stopping' }, 'stopping: no new connections');
        for (const listener of listeners) void listener.close();
      },
      drainOutbound: async () => {
        await publisher.whenIdle();
        await broker?.close();
        await link.connection.drain();
      },
      shutdownTimedOut: () => {
        shutdownTimedOut = true;
        logger.error({ unconfirmed: publisher.unconfirmed }, 'graceful shutdown timed out');
      },
    },
  ));
  metrics.observe({
    connections: () => live.connectionCount,
    unconfirmed: () => publisher.unconfirmed,
    natsConnected: () => link.isConnected,
    rememberedRequests: () => requests.size,
  });

  broker = await MqttBroker.create(
    { id: replicaId, connectTimeoutMs: config.kpc.mqtt.connectTimeoutMs, maxOutboundBytes: config.kpc.mqtt.maxOutboundBytes },
    live,
    logger,
  );
  listeners.push(...createListeners(config.kpc.mqtt, broker));

  const cluster = new ClusterTable();
  const { heartbeatIntervalMs, missedHeartbeats } = config.kpc.cluster;
  const liveness = new ReplicaLiveness(replicaId, heartbeatIntervalMs * missedHeartbeats, (gone) => {
    const endpoints = cluster.forgetReplica(gone);
    logger.warn({ event: 'replica.gone', replica: gone, endpoints }, 'replica stopped heartbeating; its endpoints are no longer routed to it');
  });
  const router = new ExtensionDataRouter({
    requests,
    holderOf: (endpointId) => live.holderOf(endpointId),
    remoteReplicaOf: (endpointId) => {
      const replica = cluster.replicaOf(endpointId);
      return replica === replicaId ? undefined : replica;
    },
    forwardToReplica: (replica, bytes) => link.connection.publish(subjects.replicaExtensionData(replica), bytes),
    logger,
    count: (outcome) => metrics.extensionData.inc({ outcome }),
  });
  subscribeExtensionData(link, { replicaId, instanceName }, (bytes, subject, viaInstance) => router.route(bytes, subject, viaInstance));
  subscribeRevocations(link, logger, {
    credentialRevoked: (event) => countRevocation(metrics, 'credential', live.credentialRevoked(event.credentialId)),
    tokenRevoked: (event) => countRevocation(metrics, 'token', live.tokenRevoked(event.endpointId, event.tokenIds)),
  });
  subscribeConnectivity(link, logger, {
    connected: (event) => {
      liveness.seen(event.originatorReplicaId, Date.now());
      cluster.connected(Object.keys(event.endpoints), event.originatorReplicaId);
      live.endpointsConnected(event);
    },
    disconnected: (event) => cluster.disconnected(Object.keys(event.endpoints), event.originatorReplicaId),
  });
  const stopHeartbeats = runHeartbeats(link, { instanceName, replicaId, intervalMs: heartbeatIntervalMs }, logger, (replica) =>
    liveness.seen(replica, Date.now()),
  );
  const sweeper = setInterval(() => liveness.sweep(Date.now()), heartbeatIntervalMs);
  sweeper.unref();
  ecap.start();
  await link.connection.flush(); // every subscription is registered before the first client arrives

  live.start();
  live.actor.subscribe({
    complete: () => {
      requests.stop();
      ecap.stop();
      stopHeartbeats();
      clearInterval(sweeper);
      http.close();
      logger.info({ event: 'service.stopped' }, 'KPC stopped');
      process.exit(shutdownTimedOut ? 1 : 0);
    },
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      logger.info({ signal }, 'shutdown requested');
      live.shutdown(signal);
    });
  }

  await listenOrExit(listeners, logger);
  live.actor.send({ type: 'nats.connected' });
}

async function listenOrExit(listeners: Listener[], logger: Logger): Promise<void> {
  try {
    await Promise.all(listeners.map((listener) => listener.listen()));
  } catch (error) {
    logger.fatal({ err: error }, (error as Error).message);
    process.exit(1);
  }
}

function countRevocation(metrics: Metrics, kind: string, sessionsEnded: number): void {
  if (sessionsEnded > 0) metrics.revocations.inc({ kind }, sessionsEnded);
}

function readConfigOrExit(): KpcConfig {
  try {
    return loadConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`kpc: ${error.message}`);
    process.exit(2);
  }
}

main().catch((error: unknown) => {
  console.error('kpc: failed to start:', error);
  process.exit(1);
});
