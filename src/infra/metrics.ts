// Prometheus metrics: `kpc_` names, no per-client or per-endpoint labels, plus the
// default Node process metrics under the same prefix.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();

  readonly connections = this.counter('kpc_connections_total', 'MQTT CONNECTs by outcome', ['outcome']);
  readonly sessionEnds = this.counter('kpc_session_ends_total', 'Client sessions ended, by final state', ['state']);
  readonly publishes = this.counter('kpc_publishes_received_total', 'PUBLISH packets from clients, by QoS', ['qos']);
  readonly clientData = this.counter('kpc_client_data_published_total', '4/ESP ClientData published to NATS');
  readonly kpErrors = this.counter('kpc_kp_errors_total', '1/KP errors KPC itself returned, by status code', ['status']);
  readonly refusedForCapacity = this.counter('kpc_unconfirmed_overflow_total', 'Connections closed because the unconfirmed store was full');
  readonly extensionData = this.counter('kpc_extension_data_total', '4/ESP ExtensionData received, by routing outcome', ['outcome']);
  readonly ecapRequests = this.counter('kpc_ecap_requests_total', '16/ECAP requests sent, by reply type', ['type']);
  readonly ecapOutcomes = this.counter('kpc_ecap_outcomes_total', '16/ECAP request outcomes, by reply type and status', ['type', 'outcome']);
  readonly elceEvents = this.counter('kpc_elce_events_published_total', '9/ELCE connectivity events published', ['type']);
  readonly roamed = this.counter('kpc_endpoints_roamed_total', 'Endpoint sessions moved to roamed');
  readonly revocations = this.counter('kpc_revocations_total', 'Revocation events that ended a local session', ['kind']);
  readonly failedActors = this.counter('kpc_session_actor_failures_total', 'Session actors that threw and were discarded');
  readonly publishesByQos = [0, 1, 2].map((qos) => this.publishes.labels(String(qos)));
  readonly kpRequests = this.counter('kpc_kp_requests_total', '1/KP requests received, by transport (mqtt: PUBLISH packets; http: POSTs)', ['transport']);
  readonly kpRequestsOverMqtt = this.kpRequests.labels('mqtt');
  readonly kpRequestsOverHttp = this.kpRequests.labels('http');
  readonly httpResponses = this.counter('kpc_http_responses_total', '1/KP over HTTP responses, by status code', ['status']);

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'kpc_' });
  }

  /** Gauges read their value when scraped, from whoever owns the number. */
  observe(sources: {
    connections(): number;
    httpConnections(): number;
    httpSessions(): number;
    unconfirmed(): number;
    natsConnected(): boolean;
    rememberedRequests(): number;
  }): void {
    this.sampled('kpc_connections_open', 'Open MQTT client sessions', sources.connections);
    new Gauge({
      name: 'kpc_transport_connections_open',
      help: 'Open client connections by transport (both count towards max-connections)',
      labelNames: ['transport'],
      registers: [this.registry],
      collect() {
        this.set({ transport: 'mqtt' }, sources.connections());
        this.set({ transport: 'http' }, sources.httpConnections());
      },
    });
    this.sampled('kpc_http_sessions_open', 'HTTP sessions keeping an endpoint identified between requests', sources.httpSessions);
    this.sampled('kpc_unconfirmed_messages', 'Messages kept until NATS confirms them', sources.unconfirmed);
    this.sampled('kpc_nats_connected', '1 when the NATS connection is up', () => (sources.natsConnected() ? 1 : 0));
    this.sampled('kpc_remembered_requests', 'Forwarded requests awaiting an extension reply', sources.rememberedRequests);
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
      kpError: (statusCode: number) => this.kpErrors.inc({ status: String(statusCode) }),
      connection: (outcome: string) => this.connections.inc({ outcome }),
      sessionEnded: (state: string) => this.sessionEnds.inc({ state }),
      roamed: () => this.roamed.inc(),
    };
  }

  ecapRequest = (type: string): void => this.ecapRequests.inc({ type });
  ecapOutcome = (type: string, outcome: string): void => this.ecapOutcomes.inc({ type, outcome });

  private counter<L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private sampled(name: string, help: string, read: () => number): void {
    new Gauge({ name, help, registers: [this.registry], collect() { this.set(read()); } });
  }
}
