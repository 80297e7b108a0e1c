// Endpoint traffic counting (TrafficMeter) and its reports (TrafficReporter): intervals, tenants,
// summing, empty intervals, and splitting past NATS's max_payload. The end-to-end test
// (test/e2e/traffic-reports.test.ts) checks the same through KPC and a real nats-server.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { TrafficMeter, type MeteredEndpoint } from '../../src/actors/traffic/traffic-meter.js';
import { codecs } from '../../src/infra/nats/codecs.js';
import type { ConfirmedPublisher } from '../../src/infra/nats/confirmed-publisher.js';
import { TrafficReporter } from '../../src/infra/nats/traffic-reports.js';

const endpoint = (appName = 'app', clientTenantId: string | null = null): MeteredEndpoint =>
  ({ appName, clientTenantId, traffic: undefined, trafficInterval: 0 });
const tenantOf = (appName: string, clientTenantId: string | null) => (appName === 'owned' ? 'owner' : clientTenantId ?? 'default');

describe('TrafficMeter', () => {
  it('counts bytes and messages both ways per endpoint, and starts afresh each interval', () => {
    const meter = new TrafficMeter(true, tenantOf, 1_000);
    const a = endpoint();
    const b = endpoint('owned', 'acme');
    meter.received(a, 'ep-a', 10);
    meter.received(a, 'ep-a', 5);
    meter.sent(a, 'ep-a', 7);
    meter.sent(b, 'ep-b', 1);
    const first = meter.take(2_000);
    expect(first.from).toBe(1_000);
    expect(first.to).toBe(2_000);
    expect(first.records).toEqual([
      { endpointId: 'ep-a', appName: 'app', tenantId: 'default', receivedBytes: 15, receivedMessages: 2, sentBytes: 7, sentMessages: 1 },
      { endpointId: 'ep-b', appName: 'owned', tenantId: 'owner', receivedBytes: 0, receivedMessages: 0, sentBytes: 1, sentMessages: 1 },
    ]);
    meter.received(b, 'ep-b', 3);
    const second = meter.take(3_000);
    expect(second).toMatchObject({ from: 2_000, to: 3_000 });
    expect(second.records).toEqual([{ endpointId: 'ep-b', appName: 'owned', tenantId: 'owner', receivedBytes: 3, receivedMessages: 1, sentBytes: 0, sentMessages: 0 }]);
    expect(meter.take(4_000).records).toEqual([]);
  });

  it('uses the client session tenant when the application names none', () => {
    const meter = new TrafficMeter(true, tenantOf);
    meter.received(endpoint('app', 'acme'), 'ep', 1);
    expect(meter.take().records[0]!.tenantId).toBe('acme');
  });

  it('counts nothing when reporting is off', () => {
    const meter = new TrafficMeter(false, tenantOf);
    meter.received(endpoint(), 'ep', 1);
    expect(meter.take().records).toEqual([]);
  });
});

describe('TrafficReporter', () => {
  const published: Array<{ subject: string; data: Uint8Array }> = [];
  const publisher = { publish: (subject: string, data: Uint8Array) => (published.push({ subject, data }), true) } as unknown as ConfirmedPublisher;
  const reporter = (maxPayloadBytes: number) =>
    new TrafficReporter(publisher, { instanceName: 'kpc', replicaId: 'r1', maxPayloadBytes: () => maxPayloadBytes }, pino({ level: 'silent' }));
  const record = (endpointId: string, tenantId = 't', appName = 'app') =>
    ({ endpointId, appName, tenantId, receivedBytes: 1, receivedMessages: 1, sentBytes: 2, sentMessages: 1 });

  it('publishes nothing for an interval without traffic', () => {
    published.length = 0;
    expect(reporter(1 << 20).publish({ from: 0, to: 1, records: [] })).toBe(0);
    expect(published).toEqual([]);
  });

  it('publishes tenant → application → endpoint, summing an endpoint counted by two sessions, with nanosecond bounds', () => {
    published.length = 0;
    const from = 1_764_561_234_567;
    reporter(1 << 20).publish({ from, to: from + 60_000, records: [record('e1'), record('e1'), record('e2', 'u', 'other')] });
    expect(published).toHaveLength(1);
    expect(published[0]!.subject).toBe('kaa.v1.events.kpc.endpoint.traffic-reporting.payload');
    const event = codecs.trafficReport.decode(published[0]!.data);
    expect(event.timeFrom).toBe(1_764_561_234_567_000_000n);
    expect(event.timeTo).toBe(1_764_561_294_567_000_000n);
    expect(event.originatorReplicaId).toBe('r1');
    expect(event.tenantTrafficStats).toEqual({
      t: { app: { e1: { totalReceivedPayload: 2n, totalSentPayload: 4n, totalReceivedMessageCount: 2n, totalSentMessageCount: 2n } } },
      u: { other: { e2: { totalReceivedPayload: 1n, totalSentPayload: 2n, totalReceivedMessageCount: 1n, totalSentMessageCount: 1n } } },
    });
  });

  it('splits a report larger than max_payload into events that each fit, losing no endpoint', () => {
    published.length = 0;
    const records = Array.from({ length: 200 }, (_, i) => record(`endpoint-${String(i).padStart(4, '0')}`));
    const events = reporter(1_000).publish({ from: 0, to: 1, records });
    expect(events).toBeGreaterThan(1);
    expect(published).toHaveLength(events);
    const endpoints = published.flatMap(({ data }) => {
      expect(data.length).toBeLessThanOrEqual(1_000);
      const event = codecs.trafficReport.decode(data);
      expect(event.timeTo).toBe(1_000_000n);
      return Object.keys(event.tenantTrafficStats.t!.app!);
    });
    expect(endpoints.sort()).toEqual(records.map((r) => r.endpointId));
  });
});
