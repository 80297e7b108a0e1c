// Management HTTP: readiness (/health) and liveness (/health/live) for probes and load balancers,
// Prometheus metrics.
import { Hono } from 'hono';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { SessionInspection } from '../../actors/ports.js';
import { addAdminRoutes } from './admin-routes.js';

export interface ManagementDeps {
  /** Human-readable reasons the service is not healthy; empty when it is. */
  healthProblems(): string[];
  /** Each component's state (`UP` / `DOWN`), shown with either answer. */
  components(): Record<string, string>;
  metrics: MetricsRegistry;
  /** The MQTT/TLS server certificate (PEM), served at /cert for clients' trust stores, as Kaa's KPC does. */
  serverCertificatePem?: string;
  /** Session inspection routes, present only when an admin token is configured. */
  admin?: { token: string; sessions: () => SessionInspection | undefined };
}

export function createManagementApp(deps: ManagementDeps): Hono {
  const app = new Hono();

  app.get('/health', (c) => {
    const problems = deps.healthProblems();
    const components = deps.components();
    return problems.length === 0 ? c.json({ status: 'UP', components }) : c.json({ status: 'DOWN', problems, components }, 500);
  });

  // Liveness: the process and its event loop serve requests; nothing else. A NATS outage or a
  // shutdown in progress is not a reason to restart a replica (that would drop every client without
  // fixing anything), so this stays 200 whenever /health (readiness) may say 500.
  app.get('/health/live', (c) => c.json({ status: 'UP' }));

  app.get('/metrics', async (c) => {
    const body = await deps.metrics.metrics();
    return c.body(body, 200, { 'Content-Type': deps.metrics.contentType });
  });

  const certificate = deps.serverCertificatePem;
  if (certificate !== undefined) app.get('/cert', (c) => c.body(certificate, 200, { 'Content-Type': 'application/x-pem-file' }));

  if (deps.admin !== undefined) addAdminRoutes(app, deps.admin.token, deps.admin.sessions);
  return app;
}
