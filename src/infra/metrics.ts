// Prometheus metrics: `kpc_` names, no per-client or per-endpoint labels, plus the
// default Node process metrics under the same prefix. Every family is registered in the
// constructor, before NATS or any listener exists, so a scrape at any moment (and with any feature
// switched off) shows the same families: dashboards and alert rules never meet a missing series.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Aggregator } from 'prom-client';
import { buildInfo } from './build-info.js';

/**
 * prom-client's default metrics include three gauges named `…_total`, which the Prometheus naming
 * rules reserve for counters (`promtool check metrics` rejects them). The same numbers remain
 * available, by type, as `kpc_nodejs_active_handles`, `…_requests` and `…_resources`: sum them.
 */
const DEFAULT_METRICS_NAMED_LIKE_COUNTERS = ['kpc_nodejs_active_handles_total', 'kpc_nodejs_active_requests_total', 'kpc_nodejs_active_resources_total'];

/** Latency buckets in seconds, from 1 ms (a warm in-cluster round trip) to 10 s (past every default timeout). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface GaugeSources {
  connections(): number;
  /** Open 1/KP over HTTP connections, and its sessions keeping an endpoint identified. */
  httpConnections(): number;
  httpSessions(): number;
  unconfirmed(): number;
  natsConnected(): boolean;
  rememberedRequests(): number;
}

/** What the gauges read until the service has built the objects that own the numbers. */
const NOTHING_YET: GaugeSources = { connections: () => 0, httpConnections: () => 0, httpSessions: () => 0, unconfirmed: () => 0, natsConnected: () => false, rememberedRequests: () => 0 };

/**
 * A status code as a label value. Codes come from other services (the credential provider): a
 * label per arbitrary integer would grow the metric without bound, so only HTTP's range is kept.
 */
export function statusLabel(statusCode: number): string {
  return Number.isInteger(statusCode) && statusCode >= 100 && statusCode <= 599 ? String(statusCode) : 'out-of-range';
}

/** `kind` label values of kpc_protocol_violations_total: what closed a client's connection (see mqtt/client-problems.ts). */
export const VIOLATION_KINDS = ['packet-too-large', 'invalid-utf8', 'null-character', 'invalid-topic'] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export class Metrics {
  readonly registry = new Registry();
  private sources = NOTHING_YET;

  readonly connections = this.counter('kpc_connections_total', 'MQTT CONNECTs by outcome', ['outcome']);
  readonly sessionEnds = this.counter('kpc_session_ends_total', 'Client sessions ended, by final state', ['state']);
  readonly publishes = this.counter('kpc_publishes_received_total', 'PUBLISH packets from clients, by QoS', ['qos']);
  readonly clientData = this.counter('kpc_client_data_published_total', '4/ESP ClientData published to NATS');
  readonly kpErrors = this.counter('kpc_kp_errors_total', '1/KP errors KPC itself returned, by status code', ['status']);
  readonly refusedForCapacity = this.counter('kpc_unconfirmed_overflow_total', 'Connections closed because the unconfirmed store was full');
  readonly extensionData = this.counter('kpc_extension_data_total', '4/ESP ExtensionData received, by routing outcome', ['outcome']);
  readonly ecapRequests = this.counter('kpc_ecap_requests_total', '16/ECAP and 22/CAP requests sent, by reply type', ['type']);
  readonly ecapOutcomes = this.counter('kpc_ecap_outcomes_total', '16/ECAP and 22/CAP request outcomes, by reply type and status', ['type', 'outcome']);
  readonly elceEvents = this.counter('kpc_elce_events_published_total', '9/ELCE connectivity events published', ['type']);
  readonly roamed = this.counter('kpc_endpoints_roamed_total', 'Endpoint sessions moved to roamed');
  readonly revocations = this.counter('kpc_revocations_total', 'Revocation events that ended a local session', ['kind']);
  readonly failedActors = this.counter('kpc_session_actor_failures_total', 'Sessions whose chart action threw, discarded (the client is closed or the endpoint identified afresh)');
  readonly undecodable = this.counter('kpc_nats_undecodable_total', 'Messages on KPC\'s NATS subscriptions that did not decode, by subscription subject', ['subject']);
  readonly protocolViolations = this.counter('kpc_protocol_violations_total', 'MQTT connections closed for breaking the protocol, by kind', ['kind']);
  readonly slowConsumers = this.counter('kpc_slow_consumers_total', 'Clients disconnected because they stopped reading (max-outbound-bytes queued)');
  readonly authenticationSeconds = this.histogram(
    'kpc_authentication_duration_seconds',
    'Time from CONNECT to CONNACK, by transport and outcome (accepted, refused-3, refused-4, refused-5)',
    ['transport', 'outcome'],
  );
  readonly extensionReplySeconds = this.histogram(
    'kpc_extension_reply_duration_seconds',
    'Time from publishing a 4/ESP ClientData with a request ID to receiving the ExtensionData that answers it',
  );
  readonly publishesByQos = [0, 1, 2].map((qos) => this.publishes.labels(String(qos)));
  readonly kpRequests = this.counter('kpc_kp_requests_total', '1/KP requests received, by transport (mqtt: PUBLISH packets; http: POSTs)', ['transport']);
  readonly kpRequestsOverMqtt = this.kpRequests.labels('mqtt');
  readonly kpRequestsOverHttp = this.kpRequests.labels('http');
  readonly httpResponses = this.counter('kpc_http_responses_total', '1/KP over HTTP responses, by status code', ['status']);

  // The MQTT listeners' front doors and TLS certificates (listener: mqtt-tcp, mqtt-tls, mqtt-ws).
  readonly rateLimited = this.counter('kpc_connections_rate_limited_total', 'New connections closed at accept by max-connection-rate', ['listener']);
  readonly proxyHeaderRejected = this.counter('kpc_proxy_protocol_rejected_total', 'Connections closed for a missing, invalid or late PROXY protocol header', ['listener']);
  readonly tlsReloads = this.counter('kpc_tls_reloads_total', 'TLS certificate files re-read after a change, by outcome (reloaded, failed)', ['listener', 'outcome']);
  readonly tlsReloadFailing = this.gauge('kpc_tls_reload_failing', '1 while the TLS files on disk do not load and the previous certificate is still served', ['listener']);
  readonly connectionLimit = this.gauge('kpc_connections_limit', 'kaa.kpc.transports.mqtt.max-connections: past it, CONNECT gets CONNACK 3');
  readonly tlsCertificateExpiry = this.gauge('kpc_tls_certificate_expiry_timestamp_seconds', 'End of validity (Unix time) of the TLS server certificate being served', ['listener']);

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'kpc_' });
    for (const name of DEFAULT_METRICS_NAMED_LIKE_COUNTERS) this.registry.removeSingleMetric(name);
    const info = buildInfo();
    new Gauge({ name: 'kpc_build_info', help: 'Always 1; the labels say which build runs', labelNames: Object.keys(info), registers: [this.registry] }).set(info, 1);
    this.sampled('kpc_connections_open', 'Open MQTT client sessions', () => this.sources.connections());
    const sources = () => this.sources;
    new Gauge({
      name: 'kpc_transport_connections_open',
      help: 'Open client connections by transport (both count towards max-connections)',
      labelNames: ['transport'],
      registers: [this.registry],
      collect() {
        this.set({ transport: 'mqtt' }, sources().connections());
        this.set({ transport: 'http' }, sources().httpConnections());
      },
    });
    this.sampled('kpc_http_sessions_open', 'HTTP sessions keeping an endpoint identified between requests', () => this.sources.httpSessions());
    this.sampled('kpc_unconfirmed_messages', 'Messages kept until NATS confirms them', () => this.sources.unconfirmed());
    // Across workers (kaa.kpc.workers) the least: 1 only when every worker is connected.
    this.sampled('kpc_nats_connected', '1 when the NATS connection is up', () => (this.sources.natsConnected() ? 1 : 0), 'min');
    this.sampled('kpc_remembered_requests', 'Forwarded requests awaiting an extension reply', () => this.sources.rememberedRequests());
    this.startSeriesAtZero();
  }

  /** Gauges read their value when scraped, from whoever owns the number (zero until this is called). */
  observe(sources: GaugeSources): void {
    this.sources = sources;
  }

  countRevocations(kind: 'credential' | 'token', sessionsEnded: number): void {
    if (sessionsEnded > 0) this.revocations.inc({ kind }, sessionsEnded);
  }

  /** The counters sessions bump, bound to these metrics (per-message ones pre-bound to their labels). */
  sessionCounters() {
    return {
      publishReceived: (qos: number) => {
        this.publishesByQos[qos]!.inc();
        this.kpRequestsOverMqtt.inc();
      },
      kpError: (statusCode: number) => this.kpErrors.inc({ status: statusLabel(statusCode) }),
      connection: (outcome: string) => this.connections.inc({ outcome }),
      sessionEnded: (state: string) => this.sessionEnds.inc({ state }),
      roamed: () => this.roamed.inc(),
    };
  }

  ecapRequest = (type: string): void => this.ecapRequests.inc({ type });
  ecapOutcome = (type: string, outcome: string): void => this.ecapOutcomes.inc({ type, outcome });
  httpResponded = (status: number): void => this.httpResponses.inc({ status: statusLabel(status) });
  authenticated = (transport: string, outcome: string, seconds: number): void => this.authenticationSeconds.observe({ transport, outcome }, seconds);
  extensionReplied = (seconds: number): void => this.extensionReplySeconds.observe(seconds);

  /**
   * A labelled series exists only once incremented, and `rate()` over a series that appears
   * mid-way misses its first increments: the label values every deployment sees start at 0.
   */
  private startSeriesAtZero(): void {
    for (const outcome of ['accepted', 'refused-3', 'refused-4', 'refused-5']) this.connections.inc({ outcome }, 0);
    for (const type of ['connected', 'disconnected']) this.elceEvents.inc({ type }, 0);
    for (const kind of ['credential', 'token']) this.revocations.inc({ kind }, 0);
    for (const transport of ['mqtt', 'http']) this.kpRequests.inc({ transport }, 0);
    for (const outcome of ['reply', 'push', 'forwarded', 'endpoint-offline', 'client-gone', 'unroutable', 'undecodable', 'no-responders', 'too-large', 'push-to-http-dropped']) {
      this.extensionData.inc({ outcome }, 0);
    }
    for (const kind of VIOLATION_KINDS) this.protocolViolations.inc({ kind }, 0);
    for (const listener of ['mqtt-tcp', 'mqtt-tls', 'mqtt-ws']) {
      this.rateLimited.inc({ listener }, 0);
      this.proxyHeaderRejected.inc({ listener }, 0);
    }
    for (const outcome of ['reloaded', 'failed']) this.tlsReloads.inc({ listener: 'mqtt-tls', outcome }, 0);
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private histogram<L extends string>(name: string, help: string, labelNames: L[] = []): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: L[] = []): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  /** `aggregator`: how a primary combines its workers' values (prom-client's AggregatorRegistry; sum by default). */
  private sampled(name: string, help: string, read: () => number, aggregator: Aggregator = 'sum'): void {
    new Gauge({ name, help, registers: [this.registry], aggregator, collect() { this.set(read()); } });
  }
}
