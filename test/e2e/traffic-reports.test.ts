// Endpoint traffic reports (9/ELCE TrafficReportEvent, Kaa 1.4's usage statistics) from the built
// KPC on a real nats-server: per tenant → application → endpoint, bytes and messages both ways,
// nanosecond bounds, no event for an interval without traffic, the tenant from the application's
// tenant-id / the client's 22/CAP tenant / the default, the partial interval flushed on shutdown,
// and a report split when it exceeds the server's max_payload.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecs, type TrafficReportEvent } from '../../src/infra/nats/codecs.js';
import { APP_NAME, APP_VERSION, DEVICE, ECHO, type Stack, startStack } from '../support/stack.js';
import { connectAs, kpTopic, TestClient, uniqueId } from '../support/mqtt.js';
import { NatsRecorder } from '../support/nats-recorder.js';

const REPORTS = 'kaa.v1.events.*.endpoint.traffic-reporting.payload';

let stack: Stack;
let reports: NatsRecorder<TrafficReportEvent>;
let startedAt: number;

beforeAll(async () => {
  stack = await startStack({
    kpcConfig: {
      kaa: {
        kpc: { 'traffic-reporting': { interval: '1s' } },
        applications: { [APP_NAME]: { 'tenant-id': 'app-tenant' } },
      },
    },
  });
  reports = await NatsRecorder.start(stack.nc, REPORTS, (_subject, data) => codecs.trafficReport.decode(data));
  startedAt = Date.now();
}, 60_000);

afterAll(async () => {
  reports?.stop();
  await stack?.stop();
});

/** Every report's stat for `endpointId`, with the tenant and application it was filed under. */
function statsFor(endpointId: string) {
  return reports.messages.flatMap(({ value }) =>
    Object.entries(value.tenantTrafficStats).flatMap(([tenant, apps]) =>
      Object.entries(apps).flatMap(([app, endpoints]) =>
        endpointId in endpoints ? [{ tenant, app, stat: endpoints[endpointId]!, report: value }] : [])));
}

const totals = (endpointId: string) =>
  statsFor(endpointId).reduce(
    (sum, { stat }) => ({
      receivedBytes: sum.receivedBytes + Number(stat.totalReceivedPayload),
      receivedMessages: sum.receivedMessages + Number(stat.totalReceivedMessageCount),
      sentBytes: sum.sentBytes + Number(stat.totalSentPayload),
      sentMessages: sum.sentMessages + Number(stat.totalSentMessageCount),
    }),
    { receivedBytes: 0, receivedMessages: 0, sentBytes: 0, sentMessages: 0 },
  );

describe('endpoint traffic reports', () => {
  it('count requests forwarded and replies and pushes delivered, per endpoint, under the application\'s tenant', async () => {
    const { token, endpointId } = stack.newToken('traffic');
    const client = await connectAs(stack.kpc, DEVICE);
    const inbox = new TestClient(client);
    try {
      await inbox.request(kpTopic(APP_VERSION, ECHO, token, 'data', 1), 'hello'); // 5 B up, 5 B echoed back
      await inbox.request(kpTopic(APP_VERSION, ECHO, token, 'data', 2), '1234567890'); // 10 B up, 10 B back
      await stack.echo.push({ endpointId, appVersionName: APP_VERSION, resourcePath: '/command', payload: Buffer.from('abc') });
      await inbox.waitFor(`${kpTopic(APP_VERSION, ECHO, token, 'command')}/status`);
      const expected = { receivedBytes: 15, receivedMessages: 2, sentBytes: 18, sentMessages: 3 };
      await reports.waitFor(`a report with all of ${endpointId}'s traffic`, () => JSON.stringify(totals(endpointId)) === JSON.stringify(expected), 10_000);
      for (const { tenant, app, report } of statsFor(endpointId)) {
        expect({ tenant, app }).toEqual({ tenant: 'app-tenant', app: APP_NAME });
        expect(report.originatorReplicaId).toBe(stack.kpc.replicaId);
        // Epoch nanoseconds, exactly representable only as BigInt; an interval of about one second.
        expect(report.timeFrom).toBeGreaterThan(BigInt(Date.now() - 60_000) * 1_000_000n);
        expect(report.timeTo - report.timeFrom).toBeGreaterThan(500_000_000n);
        expect(report.timeTo - report.timeFrom).toBeLessThan(5_000_000_000n);
      }
    } finally {
      await client.endAsync();
    }
  });

  it('file the traffic under the client\'s 22/CAP tenant when the application names none, else under the default', async () => {
    const noAppTenant = { kaa: { kpc: { 'traffic-reporting': { interval: '1s' } } } };
    const capKpc = await stack.startKpc({ config: { kaa: { kpc: { ...noAppTenant.kaa.kpc, authentication: { 'client-protocol': 'cap' } } } } });
    const ecapKpc = await stack.startKpc({ config: { kaa: { kpc: { 'traffic-reporting': { interval: '1s', 'default-tenant-id': 'fallback' } } } } });
    stack.credentials.users['acme-device'] = { password: 'acme-secret', tenantId: 'acme' };
    const viaCap = stack.newToken('traffic-cap');
    const viaEcap = stack.newToken('traffic-ecap');
    const capClient = await connectAs(capKpc, { username: 'acme-device@acme', password: 'acme-secret' });
    const ecapClient = await connectAs(ecapKpc, DEVICE);
    try {
      await new TestClient(capClient).request(kpTopic(APP_VERSION, ECHO, viaCap.token, 'data', 1), 'cap');
      await new TestClient(ecapClient).request(kpTopic(APP_VERSION, ECHO, viaEcap.token, 'data', 1), 'ecap');
      await reports.waitFor('both reports', () => statsFor(viaCap.endpointId).length > 0 && statsFor(viaEcap.endpointId).length > 0, 10_000);
      expect(statsFor(viaCap.endpointId).map(({ tenant }) => tenant)).toEqual(['acme']);
      expect(statsFor(viaEcap.endpointId).map(({ tenant }) => tenant)).toEqual(['fallback']);
    } finally {
      await Promise.all([capClient.endAsync(), ecapClient.endAsync()]);
    }
  });

  it('publish the partial interval on shutdown, before NATS is drained', async () => {
    const kpc = await stack.startKpc({ config: { kaa: { kpc: { 'traffic-reporting': { interval: '3600s' } } } } });
    const { token, endpointId } = stack.newToken('traffic-shutdown');
    const client = await connectAs(kpc, DEVICE);
    await new TestClient(client).request(kpTopic(APP_VERSION, ECHO, token, 'data', 1), 'bye');
    expect(statsFor(endpointId)).toEqual([]);
    expect(await kpc.stop()).toBe(0);
    await reports.waitFor(`the shutdown report for ${endpointId}`, () => statsFor(endpointId).length > 0, 5_000);
    expect(totals(endpointId)).toEqual({ receivedBytes: 3, receivedMessages: 1, sentBytes: 3, sentMessages: 1 });
    client.end(true);
  });
});

describe('an interval without traffic', () => {
  it('publishes nothing: the main KPC (1 s interval) published only reports with traffic, fewer than the intervals that passed', () => {
    const own = reports.messages.filter(({ value }) => value.originatorReplicaId === stack.kpc.replicaId);
    expect(own.length).toBeGreaterThan(0);
    for (const { value } of own) expect(Object.keys(value.tenantTrafficStats), 'an empty report').not.toEqual([]);
    const intervalsPassed = Math.floor((Date.now() - startedAt) / 1_000);
    expect(intervalsPassed, 'the tests above ran long enough for idle intervals').toBeGreaterThan(own.length + 1);
  });
});

describe('a report larger than max_payload', () => {
  it('is split into several events, each within the limit, losing no endpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kpc-nats-'));
    const configFile = join(dir, 'nats.conf');
    writeFileSync(configFile, 'max_payload: 600\n');
    const small = await startStack({ natsArgs: ['-c', configFile], kpcConfig: { kaa: { kpc: { 'traffic-reporting': { interval: '3600s' } } } } });
    const { credentials, kpc } = small;
    try {
      const split = await NatsRecorder.start(small.nc, REPORTS, (_subject, data) => ({ size: data.length, event: codecs.trafficReport.decode(data) }));
      const endpointIds: string[] = [];
      // Ten clients with four endpoints each: their 9/ELCE events stay small, the interval's report does not.
      for (let c = 0; c < 10; c++) {
        const client = await connectAs(kpc, DEVICE);
        const inbox = new TestClient(client);
        for (let i = 0; i < 4; i++) {
          const token = uniqueId('split');
          const endpointId = `endpoint-of-${token}`;
          credentials.tokens[token] = { endpointId };
          endpointIds.push(endpointId);
          await inbox.request(kpTopic(APP_VERSION, ECHO, token, 'd', 1), 'x');
        }
        await client.endAsync();
      }
      expect(await kpc.stop()).toBe(0); // the shutdown flush: one interval, all 40 endpoints
      await split.waitFor('every endpoint reported', () => {
        const reported = split.messages.flatMap(({ value }) => Object.keys(value.event.tenantTrafficStats.default?.[APP_NAME] ?? {}));
        return reported.length === endpointIds.length;
      }, 5_000);
      expect(split.messages.length).toBeGreaterThan(1);
      for (const { value } of split.messages) expect(value.size).toBeLessThanOrEqual(600);
      const reported = split.messages.flatMap(({ value }) => Object.keys(value.event.tenantTrafficStats.default![APP_NAME]!));
      expect(reported.sort()).toEqual(endpointIds.sort());
      expect(new Set(split.messages.map(({ value }) => value.event.timeFrom)).size, 'one interval').toBe(1);
    } finally {
      await small.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
