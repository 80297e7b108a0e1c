// The management HTTP server, started before anything else so that /health can say why the
// service is not ready yet. It reads the other components' state through `status`.
import { readFileSync } from 'node:fs';
import type { ServerType } from '@hono/node-server';
import type { Registry } from '../actors/registry/registry.js';
import type { KpcConfig } from '../infra/config/types.js';
import { createManagementApp } from '../infra/http/management-app.js';
import { startManagementServer } from '../infra/http/management-server.js';
import type { Metrics } from '../infra/metrics.js';
import type { Listener } from '../infra/mqtt/listeners.js';
import type { NatsLink } from '../infra/nats/connection.js';

/** Filled in as the service starts. */
export interface ServiceStatus {
  nats?: NatsLink;
  listeners: Listener[];
  registry?: Registry;
  /** Further reasons to be unhealthy (e.g. a failing configuration source). */
  extraProblems: Array<() => string | undefined>;
}

export function startManagement(config: KpcConfig, metrics: Metrics, status: ServiceStatus): Promise<ServerType> {
  const healthProblems = (): string[] => [
    ...(status.nats?.isConnected ? [] : ['NATS is not connected']),
    ...status.listeners.filter((listener) => !listener.listening).map((listener) => `${listener.name} listener is not listening`),
    ...(status.registry?.state === 'running' ? [] : [`service is ${status.registry?.state ?? 'starting'}`]),
    ...status.extraProblems.map((problem) => problem()).filter((problem): problem is string => problem !== undefined),
  ];
  const components = (): Record<string, string> => ({
    nats: status.nats?.isConnected ? 'UP' : 'DOWN',
    ...Object.fromEntries(status.listeners.map((listener) => [listener.name, listener.listening ? 'UP' : 'DOWN'])),
  });
  const { adminToken } = config.server;
  const { tls } = config.kpc.mqtt;
  const app = createManagementApp({
    healthProblems,
    components,
    metrics: metrics.registry,
    admin: adminToken === undefined ? undefined : { token: adminToken, sessions: () => status.registry?.inspection },
    serverCertificatePem: tls.enabled ? readFileSync(tls.certFile!, 'utf8') : undefined,
  });
  return startManagementServer(app, config.server.port, config.server.host);
}
