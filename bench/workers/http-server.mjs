// The HTTP side of `node bench/http-framework.mjs`: the same handler (read the POST body, answer 200
// with the same bytes as JSON) served by hono on @hono/node-server, or by plain node:http.
// Usage: node bench/workers/http-server.mjs --framework hono|node   (prints `READY <port>`)
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { exitOnSignal } from '../lib/announce.mjs';

const { values: opts } = parseArgs({ options: { framework: { type: 'string', default: 'hono' } } });

function readBody(incoming) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    incoming.on('data', (chunk) => chunks.push(chunk));
    incoming.once('end', () => resolve(Buffer.concat(chunks)));
    incoming.once('error', reject);
  });
}

let server;
if (opts.framework === 'hono') {
  const app = new Hono();
  app.all('*', async (c) => {
    const body = await readBody(c.env.incoming);
    return new Response(body, { status: 200, headers: { 'Content-Type': 'application/json' } });
  });
  server = createAdaptorServer({ fetch: app.fetch, autoCleanupIncoming: false });
} else if (opts.framework === 'node') {
  server = createServer(async (incoming, outgoing) => {
    const body = await readBody(incoming);
    outgoing.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length }).end(body);
  });
} else {
  throw new Error(`--framework hono|node, not ${opts.framework}`);
}
server.listen(0, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
exitOnSignal(() => new Promise((resolve) => server.close(resolve)));
