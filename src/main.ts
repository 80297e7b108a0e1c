// Composition root: read the configuration, build the I/O adapters, build the actor system, start,
// and stop gracefully on SIGTERM/SIGINT. Read top-down, this is the whole service.
//
// One PUBLISH:  socket → listeners.ts → PacketSizeGuard → MqttBroker.authorizePublish → ClientSession.publish
//               → RoutingTable.resolve → EndpointSession.receive → ClientDataForwarder.forward → NATS
// One reply:    NATS → subscribeExtensionData (main/cluster-traffic.ts) → ExtensionDataRouter.route
//               → ClientSession.reply → AedesConnection.deliver → socket
// One HTTP POST: socket → KpHttpListener → kp-http-app → HttpSessions.request → HttpSession
//               → EndpointSession.receive → ClientDataForwarder.forward → NATS; its reply comes back
//               through ExtensionDataRouter.route → NodeHttpExchange.reply → the HTTP response
import cluster from 'node:cluster';
import { AuthenticationGate } from './actors/session/authentication-gate.js';
import { ClientDataForwarder } from './actors/traffic/client-data-forwarder.js';
import { Journal } from './actors/session/journal.js';
import { Registry } from './actors/registry/registry.js';
import { RequestMemory } from './actors/traffic/request-memory.js';
import { ThrottledLog } from './infra/log-throttle.js';
import { createLogger, type Logger } from './infra/logger.js';
import { Metrics } from './infra/metrics.js';
import { createListeners, type Listener } from './infra/mqtt/listeners.js';
import { startKpOverHttp } from './main/kp-over-http.js';
import { MqttBroker } from './infra/mqtt/mqtt-broker.js';
import { NatsClientDataOutbox } from './infra/nats/client-data-outbox.js';
import { ConfirmedPublisher } from './infra/nats/confirmed-publisher.js';
import { NatsLink } from './infra/nats/connection.js';
import { CapClient } from './infra/nats/cap-client.js';
import { UndecodableMessages } from './infra/nats/undecodable-messages.js';
import { EcapClient } from './infra/nats/ecap-client.js';
import { ConnectivityEvents } from './infra/nats/elce.js';
import { wireClusterTraffic, type ClusterTraffic } from './main/cluster-traffic.js';
import { connectionObserver, listenerEvents } from './main/listener-events.js';
import { startManagement, type ServiceStatus } from './main/management.js';
import { runPrimary } from './main/primary.js';
import { exitIfCannotListen, readConfigOrExit } from './main/startup-checks.js';
import { openRoutingSource } from './main/routing-source.js';
import { startTrafficReporting } from './main/traffic-reporting.js';

/** Requests remembered for replies: enough for a busy replica, bounded so silence cannot leak memory. */
const REMEMBERED_REQUESTS = { maxEntries: 200_000, maxAgeMs: 5 * 60_000 };

async function main(): Promise<void> {
  const { config, natsOptions } = readConfigOrExit(process.argv.slice(2), process.env);
  const { instanceName, replicaId } = config.service;
  const logger = createLogger(config.logLevel, { service: 'kpc', instance: instanceName, replicaId });
  for (const warning of config.warnings) logger.warn({ event: 'config.warning' }, warning);
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception; exiting');
    process.exit(1);
  });
  // kaa.kpc.workers > 1: this process only supervises; each worker runs the rest of main().
  if (cluster.isPrimary && config.kpc.workers > 1) {
    return runPrimary(config, logger).catch((error: unknown) => {
      exitIfCannotListen(logger, error);
      throw error;
    });
  }

  const metrics = new Metrics();
  const throttledLog = new ThrottledLog(logger);
  const undecodable = new UndecodableMessages(throttledLog, (subject) => metrics.undecodable.inc({ subject }));
  const status: ServiceStatus = { listeners: [], extraProblems: [] };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      logger.info({ signal }, 'shutdown requested');
      // Before the actor system exists (still waiting for NATS or Tekton) there is nothing to drain.
      if (status.registry === undefined) process.exit(0);
      status.registry.shutdown(signal);
    });
  }
  const http = await startManagement(config, metrics, status).catch((error: unknown) => {
    exitIfCannotListen(logger, error);
    throw error;
  });

  const link = (status.nats = await NatsLink.open(natsOptions, `kpc ${replicaId}`, logger));
  // The file's routing, or Tekton's (17/SCMP): read before any listener opens.
  const routing = await openRoutingSource(config, link, logger, undecodable).catch((error: Error) => {
    logger.fatal({ event: 'routing.unavailable' }, error.message);
    process.exit(1);
  });
  status.extraProblems.push(routing.problem);
  const publisher = new ConfirmedPublisher(link, config.kpc.maxUnconfirmed, (error) =>
    throttledLog.error('publish.callback.failed', 'confirmed-publisher', { err: error }, 'a sender\'s confirmation callback threw; the other messages are confirmed as usual'),
  );
  const { authentication } = config.kpc;
  const ecap = new EcapClient(link, {
    replicaId,
    providerInstance: authentication.serviceInstanceName,
    timeoutMs: authentication.timeoutMs,
  }, logger, metrics, undecodable);
  // CONNECT credentials go to 16/ECAP (Kaa 1.0) or 22/CAP (Kaa 1.2+); endpoint tokens always to 16/ECAP.
  const cap = authentication.clientProtocol === 'cap'
    ? new CapClient(link, {
      replicaId,
      providerInstance: authentication.clientServiceInstanceName,
      timeoutMs: authentication.timeoutMs,
      defaultTenantId: authentication.defaultTenantId,
    }, logger, metrics, undecodable)
    : undefined;
  // Requests are remembered by the client session's connection id, never by the session itself.
  const requests = new RequestMemory<string>(REMEMBERED_REQUESTS.maxEntries, REMEMBERED_REQUESTS.maxAgeMs);
  const forwarder = new ClientDataForwarder<string>(new NatsClientDataOutbox(publisher, replicaId), requests, {
    extensionTimeoutMs: config.kpc.extensionTimeoutMs,
  }, { forwarded: () => metrics.clientData.inc(), overflow: () => metrics.refusedForCapacity.inc() });

  const trafficReporting = startTrafficReporting(config, link, publisher, () => routing.current(), logger);
  const connectivity = new ConnectivityEvents(publisher, { instanceName, replicaId }, (type) => metrics.elceEvents.inc({ type }));
  const gate = new AuthenticationGate(authentication.maxInFlight, authentication.negativeCacheMs);
  const clientAuthentication = cap ?? ecap;

  let broker: MqttBroker | undefined;
  let clusterTraffic: ClusterTraffic | undefined;
  let shutdownTimedOut = false;
  const registry = (status.registry = new Registry(
    {
      settings: {
        anonymousAllowed: authentication.allowAnonymous,
        authenticationTimeoutMs: authentication.timeoutMs,
        negativeCacheMs: authentication.negativeCacheMs,
        maxHeldMessages: config.kpc.maxPendingPerToken,
        httpSessionIdleTimeoutMs: config.kpc.http.sessionIdleTimeoutMs,
      },
      replicaId,
      routing: () => routing.current(),
      clientAuthentication,
      tokens: ecap,
      authentication: gate,
      forwarder,
      connectivity,
      traffic: trafficReporting.meter,
      counters: metrics.sessionCounters(),
      logger,
      warnings: throttledLog,
      newJournal: (machine, actorId) => new Journal(config.kpc.inspection.journalLength, machine, actorId),
    },
    {
      replicaId,
      gracefulShutdownMs: config.service.gracefulShutdownMs,
      maxConnections: config.kpc.mqtt.maxConnections,
      natsConnected: () => link.isConnected,
      logger,
      onActorFailed: () => metrics.failedActors.inc(),
      retainEnded: { count: config.kpc.inspection.retainEnded, forMs: config.kpc.inspection.retainEndedForMs },
      drainPace: { ratePerSecond: config.service.drainRate, windowMs: config.service.gracefulShutdownMs / 2 },
    },
    {
      announceReady: () => logger.info({ event: 'service.ready', listeners: status.listeners.map((l) => l.name) }, 'KPC is ready'),
      stopAccepting: () => {
        logger.info({ event: 'service.stopping' }, 'stopping: no new connections');
        for (const listener of status.listeners) void listener.close();
      },
      drainOutbound: async () => {
        trafficReporting.flush(); // every session has ended: the partial interval is complete
        await publisher.whenIdle();
        await broker?.close();
        clusterTraffic?.announceLeaving(); // after the disconnected events: the others forget this replica at once
        await link.connection.drain();
      },
      shutdownTimedOut: () => {
        shutdownTimedOut = true;
        logger.error({ unconfirmed: publisher.unconfirmed }, 'graceful shutdown timed out');
      },
    },
  ));
  metrics.observe({
    connections: () => registry.connectionCount,
    httpConnections: () => registry.httpConnectionCount,
    httpSessions: () => registry.http.size,
    unconfirmed: () => publisher.unconfirmed,
    natsConnected: () => link.isConnected,
    rememberedRequests: () => requests.size,
  });

  const { mqtt } = config.kpc;
  metrics.connectionLimit.set(mqtt.maxConnections);
  broker = await MqttBroker.create(
    { id: replicaId, connectTimeoutMs: mqtt.connectTimeoutMs, maxOutboundBytes: mqtt.maxOutboundBytes, maxSubscriptions: mqtt.maxSubscriptions },
    registry,
    logger,
    connectionObserver(metrics, throttledLog),
  );
  status.listeners.push(...createListeners(mqtt, broker, listenerEvents(metrics, logger, throttledLog)));
  if (config.kpc.http.enabled) status.listeners.push(startKpOverHttp(config, registry, gate, clientAuthentication, metrics, logger));
  clusterTraffic = status.cluster = wireClusterTraffic(link, config, registry, requests, trafficReporting.meter, metrics, logger, undecodable, connectivity);
  ecap.start();
  cap?.start();
  await link.connection.flush(); // every subscription is registered before the first client arrives

  registry.start();
  registry.actor.subscribe({
    complete: () => {
      requests.stop();
      ecap.stop();
      cap?.stop();
      routing.stop();
      clusterTraffic?.stop();
      http.close();
      logger.info({ event: 'service.stopped' }, 'KPC stopped');
      process.exit(shutdownTimedOut ? 1 : 0);
    },
  });
  await listenOrExit(status.listeners, logger);
  registry.actor.send({ type: 'nats.connected' });
}

async function listenOrExit(listeners: Listener[], logger: Logger): Promise<void> {
  try {
    await Promise.all(listeners.map((listener) => listener.listen()));
  } catch (error) {
    exitIfCannotListen(logger, error);
    logger.fatal({ err: error }, (error as Error).message);
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  console.error('kpc: failed to start:', error);
  process.exit(1);
});
