// The Prometheus metrics as a scraper and an operator see them: the exposition passes
// `promtool check metrics` (format and naming rules), the latency histograms, build info and
// slow-consumer counter exist, and every family is exported from the first moment, before NATS
// is reachable, so dashboards and alert rules never meet a missing family.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KpcHandle } from '../support/kpc-process.js';
import { connackCode } from '../support/mqtt-client.js';
import { getFreePort } from '../support/nats-server.js';
import { checkMetrics } from '../support/promtool.js';
import { startBackend, tokenTopic, type Backend } from '../support/lifecycle-stack.js';
import { waitUntil } from '../support/waiting.js';

let backend: Backend;
let kpc: KpcHandle;

beforeAll(async () => {
  backend = await startBackend({ users: ['metrics-user'], tokens: 1 });
  kpc = await backend.startKpc();
});

afterAll(async () => {
  await backend?.stop();
});

const scrape = async (target: KpcHandle): Promise<string> => (await fetch(`${target.httpUrl}/metrics`)).text();

/** The metric family names an exposition declares (its `# TYPE` lines). */
const families = (text: string): string[] => [...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!).sort();

/** The value of the one sample line that starts with `series` (name and labels as printed). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics', () => {
  it('passes promtool check metrics after traffic (no complaint at all)', async () => {
    const client = await backend.connect(kpc, 'metrics-user');
    await client.request(tokenTopic('token-1', 'data', 1), 'metrics');
    expect(await connackCode(kpc.mqttUrl, { clientId: 'metrics-refused', username: 'metrics-user', password: 'wrong' })).toBe(4);
    await client.end();

    const { code, output } = await checkMetrics(await scrape(kpc));
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('has authentication and extension-reply latency histograms, build info and a slow-consumer counter', async () => {
    const client = await backend.connect(kpc, 'metrics-user');
    await client.request(tokenTopic('token-1', 'data', 2), 'latency');
    await client.end();
    const text = await scrape(kpc);

    expect(sample(text, 'kpc_authentication_duration_seconds_count{transport="tcp",outcome="accepted"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'kpc_authentication_duration_seconds_bucket{le="10",transport="tcp",outcome="accepted"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'kpc_extension_reply_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^kpc_build_info\{version="\d+\.\d+\.\d+",nodejs="[\d.]+",nats_client="[\d.]+"\} 1$/m);
    expect(sample(text, 'kpc_slow_consumers_total')).toBe(0);
    expect(families(text)).not.toContain('kpc_nodejs_active_handles_total');
  });

  it('exports every family before NATS is reachable, the same families as a running replica', async () => {
    const waiting = await backend.startKpc({ natsUrls: [`nats://127.0.0.1:${await getFreePort()}`], expectHealthy: false });
    const early = await waitUntil(() => scrape(waiting).catch(() => undefined), 'the waiting KPC answering /metrics');
    expect(sample(early, 'kpc_nats_connected')).toBe(0);
    expect(families(early)).toEqual(families(await scrape(kpc)));
    expect((await checkMetrics(early)).output).toBe('');
  });
});
