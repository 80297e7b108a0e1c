// Session inspection, on only when `server.admin-token` is set: every request needs
// `Authorization: Bearer <token>`. Without the setting these routes do not exist at all.
import { timingSafeEqual } from 'node:crypto';
import type { Hono } from 'hono';
import type { SessionInspection } from '../../actors/ports.js';


/** `sessions()` is undefined until the actor system has started (the HTTP server starts first). */
export function addAdminRoutes(app: Hono, adminToken: string, sessions: () => SessionInspection | undefined): void {
  const expected = Buffer.from(`Bearer ${adminToken}`);
  const authorized = (header: string | undefined): boolean => {
    const given = Buffer.from(header ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };

  for (const path of ['/sessions', '/sessions/*', '/endpoints/*']) {
    app.use(path, async (c, next) => {
      if (!authorized(c.req.header('Authorization'))) {
        return c.json({ error: 'unauthorized: send Authorization: Bearer <server.admin-token>' }, 401, { 'WWW-Authenticate': 'Bearer' });
      }
      if (sessions() === undefined) return c.json({ error: 'service is starting' }, 503);
      await next();
    });
  }
  const inspector = (): SessionInspection => sessions()!;

  app.get('/sessions', (c) => c.json(inspector().inspectSessions()));

  app.get('/sessions/:clientId', (c) => {
    const session = inspector().inspectSession(c.req.param('clientId'));
    return session === undefined ? c.json({ error: 'no such session, live or recently ended' }, 404) : c.json(session);
  });

  app.get('/sessions/:clientId/journal', (c) => {
    const journal = inspector().sessionJournal(c.req.param('clientId'));
    if (journal === undefined) return c.json({ error: 'no such session, live or recently ended' }, 404);
    // A download: `npm run replay -- <file>` replays it through the charts.
    const file = `${c.req.param('clientId').replace(/[^\w.-]/g, '_')}.journal.json`;
    return c.json(journal, 200, { 'Content-Disposition': `attachment; filename="${file}"` });
  });

  app.delete('/sessions/:clientId', (c) =>
    inspector().disconnectByAdmin(c.req.param('clientId'))
      ? c.json({ disconnected: c.req.param('clientId') })
      : c.json({ error: 'no active session with that client id' }, 404),
  );

  app.get('/endpoints/:endpointId', (c) => c.json(inspector().inspectEndpoint(c.req.param('endpointId'))));
}
