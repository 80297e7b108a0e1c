// The management HTTP server, started before anything else so that /health can say why the
// service is not ready yet. It reads the other components' state through `status`.
// In a worker process (kaa.kpc.workers > 1) there is no HTTP server: the primary serves the one
// management port and asks each worker the same questions over IPC (src/main/primary.ts).
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { Registry } from '../actors/registry/registry.js';
import type { KpcConfig } from '../infra/config/types.js';
import { createManagementApp, type HealthReport } from '../infra/http/management-app.js';
import { startManagementServer } from '../infra/http/management-server.js';
import type { Metrics } from '../infra/metrics.js';
import type { Listener } from '../infra/mqtt/listeners.js';
import type { NatsLink } from '../infra/nats/connection.js';
import { answerPrimary } from '../infra/workers/ipc.js';
import type { ClusterTraffic } from './cluster-traffic.js';

/** Filled in as the service starts. */
export interface ServiceStatus {
  nats?: NatsLink;
  listeners: Listener[];
  registry?: Registry;
  cluster?: ClusterTraffic;
  /** Further reasons to be unhealthy (e.g. a failing configuration source). */
  extraProblems: Array<() => string | undefined>;
}

export function healthOf(status: ServiceStatus): HealthReport {
  return {
    problems: [
      ...(status.nats?.isConnected ? [] : ['NATS is not connected']),
      ...status.listeners.filter((listener) => !listener.listening).map((listener) => `${listener.name} listener is not listening`),
      ...(status.registry?.state === 'running' ? [] : [`service is ${status.registry?.state ?? 'starting'}`]),
      ...status.extraProblems.map((problem) => problem()).filter((problem): problem is string => problem !== undefined),
    ],
    components: {
      nats: status.nats?.isConnected ? 'UP' : 'DOWN',
      ...Object.fromEntries(status.listeners.map((listener) => [listener.name, listener.listening ? 'UP' : 'DOWN'])),
    },
  };
}

export function serverCertificatePem(config: KpcConfig): string | undefined {
  const { tls } = config.kpc.mqtt;
  return tls.enabled ? readFileSync(tls.certFile!, 'utf8') : undefined;
}

/** The HTTP server in a single process; the answers to the primary's questions in a worker. */
export async function startManagement(config: KpcConfig, metrics: Metrics, status: ServiceStatus): Promise<{ close(): void }> {
  if (cluster.isWorker) {
    answerWorkerQuestions(metrics, status);
    return { close: () => {} };
  }
  const { adminToken } = config.server;
  const app = createManagementApp({
    health: () => healthOf(status),
    metrics: metrics.registry,
    admin: adminToken === undefined ? undefined : { token: adminToken, sessions: () => status.registry?.inspection },
    serverCertificatePem: serverCertificatePem(config),
  });
  return startManagementServer(app, config.server.port, config.server.host);
}

/** What a worker tells its primary; the names are the questions primary.ts asks. */
function answerWorkerQuestions(metrics: Metrics, status: ServiceStatus): void {
  const inspection = () => {
    if (status.registry === undefined) throw new Error('service is starting');
    return status.registry.inspection;
  };
  answerPrimary({
    health: () => healthOf(status),
    metrics: () => metrics.registry.getMetricsAsJSON(),
    inspectSessions: () => inspection().inspectSessions(),
    inspectSession: (mqttClientId: string) => inspection().inspectSession(mqttClientId) ?? null,
    sessionJournal: (mqttClientId: string) => inspection().sessionJournal(mqttClientId) ?? null,
    inspectEndpoint: (endpointId: string) => inspection().inspectEndpoint(endpointId),
    disconnectByAdmin: (mqttClientId: string) => inspection().disconnectByAdmin(mqttClientId),
    siblingDied: (replicaId: string) => status.cluster?.siblingDied(replicaId) ?? 0,
  });
}
