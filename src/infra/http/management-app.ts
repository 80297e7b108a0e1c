// Management HTTP (SPEC §10): health for probes and load balancers, Prometheus metrics.
import { Hono } from 'hono';
import type { Registry as MetricsRegistry } from 'prom-client';
import { addAdminRoutes, type SessionInspector } from './admin-routes.js';

export interface ManagementDeps {
  /** Human-readable reasons the service is not healthy; empty when it is. */
  healthProblems(): string[];
  metrics: MetricsRegistry;
  /** Session inspection routes, present only when an admin token is configured. */
  admin?: { token: string; sessions: () => SessionInspector | undefined };
}

export function createManagementApp(deps: ManagementDeps): Hono {
  const app = new Hono();

  app.get('/health', (c) => {
    const problems = deps.healthProblems();
    return problems.length === 0 ? c.json({ status: 'UP' }) : c.json({ status: 'DOWN', problems }, 500);
  });

  app.get('/metrics', async (c) => {
    const body = await deps.metrics.metrics();
    return c.body(body, 200, { 'Content-Type': deps.metrics.contentType });
  });

  if (deps.admin !== undefined) addAdminRoutes(app, deps.admin.token, deps.admin.sessions);
  return app;
}
