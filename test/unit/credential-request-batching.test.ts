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

/**
 * Connects a NATS link through a relay counting `marker`, starts the client `open` builds on it, makes
 * the requests `ask` describes in one event-loop turn, and checks their answers and how they reached NATS.
 */
async function requestInOneTurn<T>(
  marker: string,
  open: (link: NatsLink) => { start(): void; stop(): void; ask(i: number): Promise<T> },
  expected: (i: number) => T,
): Promise<void> {
  const relay = await startRelay(marker);
  const link = await NatsLink.open({ servers: relay.url }, 'batching-test', logger);
  const client = open(link);
  client.start();
  try {
    await link.connection.flush();
    const answers = await inOneTurn((i) => client.ask(i));
    expect(answers).toEqual(Array.from({ length: REQUESTS }, (_, i) => expected(i)));
    await waitUntil(() => relay.chunks.reduce((a, b) => a + b, 0) === REQUESTS, 'every request through the relay');
    expect(relay.chunks).toEqual([REQUESTS]);
  } finally {
    client.stop();
    await link.connection.close();
    relay.stop();
  }
}

describe('credential requests made in one event-loop turn', () => {
  it('16/ECAP: go to NATS in one write, and each gets its own answer', async () => {
    await requestInOneTurn(`PUB ${subjects.tokenRequest('cm')} `, (link) => {
      const ecap = new EcapClient(link, { replicaId: 'batching', providerInstance: 'cm', timeoutMs: 5_000 }, logger, metrics, undecodable);
      return {
        start: () => ecap.start(),
        stop: () => ecap.stop(),
        ask: async (i) => {
          const outcome = await ecap.validateToken('demo_application', `token-${i}`);
          return outcome.ok ? outcome.reply.endpointId : outcome.reason;
        },
      };
    }, (i) => `endpoint-${i}`);
  });

  it('22/CAP: go to NATS in one write, and each gets its own answer', async () => {
    await requestInOneTurn(`PUB ${subjects.capBasicRequest('ccm')} `, (link) => {
      const cap = new CapClient(link, { replicaId: 'batching', providerInstance: 'ccm', timeoutMs: 5_000, defaultTenantId: 'default' }, logger, metrics, undecodable);
      return {
        start: () => cap.start(),
        stop: () => cap.stop(),
        ask: async (i) => {
          const outcome = await cap.validateUsernamePassword(`user-${i}`, `secret-${i}`);
          return outcome.ok ? outcome.reply.clientId : outcome.reason;
        },
      };
    }, (i) => `client-user-${i}`);
  });
});
