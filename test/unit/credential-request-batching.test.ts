// 16/ECAP and 22/CAP requests made in one event-loop turn (e.g. the CONNECTs of many clients read in
// one turn) reach NATS in one socket write. Observed on the wire: KPC's clients talk to a real
// nats-server through a relay in another process that reports each chunk it reads.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevEcapProvider } from '../../dev/ecap-provider.js';
import { CapClient } from '../../src/infra/nats/cap-client.js';
import { NatsLink } from '../../src/infra/nats/connection.js';
import { EcapClient } from '../../src/infra/nats/ecap-client.js';
import { UndecodableMessages } from '../../src/infra/nats/undecodable-messages.js';
import { ThrottledLog } from '../../src/infra/log-throttle.js';
import { subjects } from '../../src/infra/nats/subjects.js';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.js';
import { waitUntil } from '../support/waiting.js';

const REQUESTS = 20;
const logger = pino({ level: 'silent' });
const metrics = { ecapRequest: () => {}, ecapOutcome: () => {} };
const undecodable = new UndecodableMessages(new ThrottledLog(logger), () => {});
const users = Object.fromEntries(Array.from({ length: REQUESTS }, (_, i) => [`user-${i}`, { password: `secret-${i}` }]));
const tokens = Object.fromEntries(Array.from({ length: REQUESTS }, (_, i) => [`token-${i}`, { endpointId: `endpoint-${i}` }]));

let nats: NatsServerHandle;
let provider: DevEcapProvider;

beforeAll(async () => {
  nats = await startNatsServer();
  provider = new DevEcapProvider({ natsUrls: nats.url, credentials: { users, tokens }, logger: { info: () => {}, warn: () => {} } });
  await provider.start();
});

afterAll(async () => {
  await provider?.stop();
  await nats?.stop();
});

/** A relay in front of nats-server; `chunks` lists, per chunk read that holds `marker`, how many times it does. */
async function startRelay(marker: string): Promise<{ url: string; chunks: number[]; stop(): void }> {
  const script = fileURLToPath(new URL('../support/write-counting-relay.mjs', import.meta.url));
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [script, String(nats.port), marker]);
  const chunks: number[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const report = JSON.parse(line) as { port?: number; occurrences?: number };
      if (report.port !== undefined) resolve(report.port);
      else chunks.push(report.occurrences ?? 0);
    });
  });
  return { url: `nats://127.0.0.1:${port}`, chunks, stop: () => child.kill() };
}

/** Calls `ask(i)` for every i, each from its own callback of the same event-loop turn (as socket reads are). */
function inOneTurn<T>(ask: (i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: REQUESTS }, (_, i) => new Promise<T>((resolve, reject) => {
    setImmediate(() => ask(i).then(resolve, reject));
  })));
}

describe('credential requests made in one event-loop turn', () => {
  it('16/ECAP: go to NATS in one write, and each gets its own answer', async () => {
    const relay = await startRelay(`PUB ${subjects.tokenRequest('cm')} `);
    const link = await NatsLink.open({ servers: relay.url }, 'batching-test', logger);
    const ecap = new EcapClient(link, { replicaId: 'batching', providerInstance: 'cm', timeoutMs: 5_000 }, logger, metrics, undecodable);
    ecap.start();
    try {
      await link.connection.flush();
      const outcomes = await inOneTurn((i) => ecap.validateToken('demo_application', `token-${i}`));
      expect(outcomes.map((o) => o.ok && o.reply.endpointId)).toEqual(Array.from({ length: REQUESTS }, (_, i) => `endpoint-${i}`));
      await waitUntil(() => relay.chunks.reduce((a, b) => a + b, 0) === REQUESTS, 'every request through the relay');
      expect(relay.chunks).toEqual([REQUESTS]);
    } finally {
      ecap.stop();
      await link.connection.close();
      relay.stop();
    }
  });

  it('22/CAP: go to NATS in one write, and each gets its own answer', async () => {
    const relay = await startRelay(`PUB ${subjects.capBasicRequest('ccm')} `);
    const link = await NatsLink.open({ servers: relay.url }, 'batching-test', logger);
    const cap = new CapClient(link, { replicaId: 'batching', providerInstance: 'ccm', timeoutMs: 5_000, defaultTenantId: 'default' }, logger, metrics, undecodable);
    cap.start();
    try {
      await link.connection.flush();
      const outcomes = await inOneTurn((i) => cap.validateUsernamePassword(`user-${i}`, `secret-${i}`));
      expect(outcomes.map((o) => o.ok && o.reply.clientId)).toEqual(Array.from({ length: REQUESTS }, (_, i) => `client-user-${i}`));
      await waitUntil(() => relay.chunks.reduce((a, b) => a + b, 0) === REQUESTS, 'every request through the relay');
      expect(relay.chunks).toEqual([REQUESTS]);
    } finally {
      cap.stop();
      await link.connection.close();
      relay.stop();
    }
  });
});
