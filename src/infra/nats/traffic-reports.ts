// 9/ELCE endpoint traffic reports (Kaa 1.4): one interval of the TrafficMeter becomes
// TrafficReportEvents on `kaa.v1.events.{instance}.endpoint.traffic-reporting.payload`,
// tenant → application → endpoint, with the interval's bounds in epoch nanoseconds.
// Nothing is published for an interval without traffic. A report larger than the NATS server's
// max_payload is split into several events over the same interval (no endpoint is split). They go
// through the confirmed publisher, so a NATS outage delays them instead of losing them, and a
// shutdown waits for them.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { TrafficInterval, TrafficRecord } from '../../actors/traffic/traffic-meter.js';
import { codecs, type TrafficReportEvent, type TrafficStat } from './codecs.js';
import type { ConfirmedPublisher } from './confirmed-publisher.js';
import { subjects } from './subjects.js';

const NANOSECONDS_PER_MILLISECOND = 1_000_000n;

interface EndpointEntry {
  tenantId: string;
  appName: string;
  endpointId: string;
  stat: TrafficStat;
}

export class TrafficReporter {
  private readonly subject: string;

  constructor(
    private readonly publisher: ConfirmedPublisher,
    private readonly options: { instanceName: string; replicaId: string; maxPayloadBytes: () => number },
    private readonly logger: Logger,
  ) {
    this.subject = subjects.trafficReport(options.instanceName);
  }

  /** Publishes the interval's report (nothing when it had no traffic); returns the number of events. */
  publish(interval: TrafficInterval): number {
    if (interval.records.length === 0) return 0;
    const events = this.split(entriesOf(interval.records), interval);
    for (const event of events) {
      if (!this.publisher.publish(this.subject, event)) {
        this.logger.warn({ event: 'traffic-report.dropped' }, 'traffic report not published: too many messages wait for NATS');
      }
    }
    this.logger.debug({ event: 'traffic-report.published', endpoints: interval.records.length, events: events.length }, 'endpoint traffic reported');
    return events.length;
  }

  /** Encodes the entries as one event, or halves them until every event fits max_payload. */
  private split(entries: EndpointEntry[], interval: TrafficInterval): Buffer[] {
    const encoded = codecs.trafficReport.encode(this.event(entries, interval));
    if (encoded.length <= this.options.maxPayloadBytes() || entries.length === 1) return [encoded];
    const half = Math.ceil(entries.length / 2);
    return [...this.split(entries.slice(0, half), interval), ...this.split(entries.slice(half), interval)];
  }

  private event(entries: EndpointEntry[], interval: TrafficInterval): TrafficReportEvent {
    const tenantTrafficStats: TrafficReportEvent['tenantTrafficStats'] = {};
    for (const { tenantId, appName, endpointId, stat } of entries) {
      const apps = (tenantTrafficStats[tenantId] ??= {});
      (apps[appName] ??= {})[endpointId] = stat;
    }
    return {
      tenantTrafficStats,
      timeFrom: BigInt(interval.from) * NANOSECONDS_PER_MILLISECOND,
      timeTo: BigInt(interval.to) * NANOSECONDS_PER_MILLISECOND,
      correlationId: randomUUID(),
      originatorReplicaId: this.options.replicaId,
      timestamp: BigInt(Date.now()),
      timeout: 0n,
    };
  }
}

/** One entry per tenant, application and endpoint: an endpoint served by two sessions in the interval is summed. */
function entriesOf(records: TrafficRecord[]): EndpointEntry[] {
  const byKey = new Map<string, EndpointEntry>();
  for (const record of records) {
    const key = `${record.tenantId}\u0000${record.appName}\u0000${record.endpointId}`;
    let entry = byKey.get(key);
    if (entry === undefined) {
      entry = {
        tenantId: record.tenantId,
        appName: record.appName,
        endpointId: record.endpointId,
        stat: { totalReceivedPayload: 0n, totalSentPayload: 0n, totalReceivedMessageCount: 0n, totalSentMessageCount: 0n },
      };
      byKey.set(key, entry);
    }
    entry.stat.totalReceivedPayload += BigInt(record.receivedBytes);
    entry.stat.totalSentPayload += BigInt(record.sentBytes);
    entry.stat.totalReceivedMessageCount += BigInt(record.receivedMessages);
    entry.stat.totalSentMessageCount += BigInt(record.sentMessages);
  }
  return [...byKey.values()];
}
