// Endpoint traffic counting for 9/ELCE traffic reports (Kaa 1.4's usage statistics).
//
// It runs on the hot path, so it costs one comparison and four additions per message: the
// counters live on the endpoint session itself (`MeteredEndpoint.traffic`), and a record is made
// (and its tenant resolved) only for the first message of an endpoint in an interval. `take()`
// hands over the interval's records and starts a new interval; memory is bounded by the endpoints
// that had traffic in one interval, and an endpoint session that ends keeps nothing alive past it.

export interface TrafficRecord {
  endpointId: string;
  appName: string;
  tenantId: string;
  receivedBytes: number;
  receivedMessages: number;
  sentBytes: number;
  sentMessages: number;
}

/** What an endpoint session carries for the meter. */
export interface MeteredEndpoint {
  readonly appName: string;
  /** The tenant of the client session that carries the endpoint's traffic (22/CAP), if any. */
  readonly clientTenantId: string | null;
  /** The record of the interval `trafficInterval`; owned by the meter. */
  traffic: TrafficRecord | undefined;
  trafficInterval: number;
}

export interface TrafficInterval {
  /** Epoch milliseconds, [from, to). */
  from: number;
  to: number;
  records: TrafficRecord[];
}

export class TrafficMeter {
  private interval = 1;
  private records: TrafficRecord[] = [];
  private startedAt: number;

  /**
   * `tenantOf(appName, clientTenantId)`: the application's configured tenant, else the client's,
   * else the default (resolved once per endpoint and interval).
   */
  constructor(
    private readonly enabled: boolean,
    private readonly tenantOf: (appName: string, clientTenantId: string | null) => string,
    now = Date.now(),
  ) {
    this.startedAt = now;
  }

  /** A 1/KP request from the endpoint was forwarded to an extension. */
  received(endpoint: MeteredEndpoint, endpointId: string, payloadBytes: number): void {
    const record = this.recordOf(endpoint, endpointId);
    if (record === undefined) return;
    record.receivedBytes += payloadBytes;
    record.receivedMessages++;
  }

  /** A reply or push was delivered to the endpoint. */
  sent(endpoint: MeteredEndpoint, endpointId: string, payloadBytes: number): void {
    const record = this.recordOf(endpoint, endpointId);
    if (record === undefined) return;
    record.sentBytes += payloadBytes;
    record.sentMessages++;
  }

  /** Ends the current interval at `now` and returns it; the next one starts at `now`. */
  take(now = Date.now()): TrafficInterval {
    const taken = { from: this.startedAt, to: now, records: this.records };
    this.records = [];
    this.interval++;
    this.startedAt = now;
    return taken;
  }

  private recordOf(endpoint: MeteredEndpoint, endpointId: string): TrafficRecord | undefined {
    if (endpoint.trafficInterval === this.interval) return endpoint.traffic;
    if (!this.enabled) return undefined;
    const record: TrafficRecord = {
      endpointId,
      appName: endpoint.appName,
      tenantId: this.tenantOf(endpoint.appName, endpoint.clientTenantId),
      receivedBytes: 0,
      receivedMessages: 0,
      sentBytes: 0,
      sentMessages: 0,
    };
    endpoint.traffic = record;
    endpoint.trafficInterval = this.interval;
    this.records.push(record);
    return record;
  }
}
