// The service's configuration after loading, defaulting and validation. All durations are in
// milliseconds here, whatever unit the YAML used. Key names in comments are the YAML paths.
import type { RoutingConfig } from '../../actors/traffic/routing.js';

export interface TlsListenerConfig {
  enabled: boolean; //           kaa.kpc.transports.mqtt.tls.enabled        (false)
  port: number; //               kaa.kpc.transports.mqtt.tls.port           (8883)
  certFile?: string; //          kaa.kpc.transports.mqtt.tls.cert-file      (required when enabled)
  keyFile?: string; //           kaa.kpc.transports.mqtt.tls.key-file       (required when enabled)
  caFile?: string; //            kaa.kpc.transports.mqtt.tls.ca-file
  clientAuth: 'none' | 'optional' | 'required'; // kaa.kpc.transports.mqtt.tls.client-auth ('none')
  proxyProtocol: boolean; //     kaa.kpc.transports.mqtt.tls.proxy-protocol (false)
}

export interface MqttConfig {
  /** Each listener's `proxy-protocol` (false): connections must start with a PROXY protocol v1/v2 header. */
  tcp: { enabled: boolean; port: number; proxyProtocol: boolean }; // tcp.enabled (true), tcp.port (1883)
  tls: TlsListenerConfig;
  ws: { enabled: boolean; port: number; path: string; proxyProtocol: boolean }; // ws.enabled (false), ws.port (8080), ws.path ('/ws')
  connectTimeoutMs: number; //   kaa.kpc.transports.mqtt.connect-timeout     (10 s)
  maxPacketBytes: number; //     kaa.kpc.transports.mqtt.max-packet-bytes    (1 MiB)
  maxConnections: number; //     kaa.kpc.transports.mqtt.max-connections     (100 000)
  /** New connections per second per listener (burst: one second's worth); 0 = no limit. */
  maxConnectionRate: number; //  kaa.kpc.transports.mqtt.max-connection-rate (0)
  /** Bytes queued towards a client that does not read; past it the client is cut as a slow consumer. */
  maxOutboundBytes: number; //   kaa.kpc.transports.mqtt.max-outbound-bytes  (4 MiB)
  /** Topic filters one connection may hold; past it SUBSCRIBE gets 0x80 for that filter. */
  maxSubscriptions: number; //   kaa.kpc.transports.mqtt.max-subscriptions   (1 000)
  host: string; //               kaa.kpc.transports.mqtt.host                ('0.0.0.0')
}

/** 1/KP over HTTP (`kaa.kpc.transports.http.…`). */
export interface HttpTransportConfig {
  enabled: boolean; //            enabled              (false)
  port: number; //                port                 (8081)
  host: string; //                host                 ('0.0.0.0')
  pathPrefix: string; //          path-prefix          ('': POST /kp1/…)
  requestTimeoutMs: number; //    request-timeout      (30 s): then 504
  maxBodyBytes: number; //        max-body-bytes       (1 MiB): past it 413
  authentication: 'none' | 'optional' | 'required'; // authentication ('none'): HTTP Basic through 16/ECAP
  sessionIdleTimeoutMs: number; // session-idle-timeout (60 s): identification kept that long without a request
  tls: { enabled: boolean; certFile?: string; keyFile?: string }; // tls.enabled (false), tls.cert-file, tls.key-file
}

/** How KPC authenticates to NATS: at most one of these (NATS_URLS credentials or the kaa.kpc.nats.* keys). */
export type NatsAuth =
  | { kind: 'none' }
  | { kind: 'token'; token: string } //                   kaa.kpc.nats.token, or nats://token@host
  | { kind: 'user'; user: string; password: string } //   kaa.kpc.nats.user / .password, or nats://user:password@host
  | { kind: 'nkey'; seedFile: string } //                 kaa.kpc.nats.nkey-seed-file
  | { kind: 'creds'; credsFile: string }; //              kaa.kpc.nats.creds-file (JWT + NKey seed)

export interface NatsClientConfig {
  /** NATS_URLS without any credentials in them (those are in `auth`). */
  urls: string[];
  auth: NatsAuth;
  /** kaa.kpc.nats.tls.ca-file / .cert-file / .key-file: a CA to trust, a client certificate and key. */
  tls: { caFile?: string; certFile?: string; keyFile?: string };
}

export interface KpcConfig {
  service: {
    instanceName: string; //    service.instance.name        ('kpc')
    replicaId: string; //       service.instance.replica.id  (random per process)
    gracefulShutdownMs: number; // service.graceful-shutdown (30 s; a bare number means seconds)
    /** Client connections closed per second on shutdown, sped up to finish within half the graceful period; 0 = all at once. */
    drainRate: number; //       service.drain-rate           (1 000)
  };
  server: {
    port: number; //            server.port                  (8008)
    host: string; //            server.host                  ('0.0.0.0')
    adminToken?: string; //     server.admin-token           (unset: session inspection routes off)
  };
  /** NATS_URLS (comma-separated, default nats://localhost:4222) and the kaa.kpc.nats.* keys. */
  nats: NatsClientConfig;
  kpc: {
    mqtt: MqttConfig;
    http: HttpTransportConfig;
    authentication: {
      serviceInstanceName: string; // kaa.kpc.authentication.service-instance-name ('cm')
      timeoutMs: number; //          kaa.kpc.authentication.timeout               (5 s)
      allowAnonymous: boolean; //    kaa.kpc.authentication.allow-anonymous       (false)
      negativeCacheMs: number; //    kaa.kpc.authentication.negative-cache        (10 s)
      maxInFlight: number; //        kaa.kpc.authentication.max-in-flight         (1 000 per listener)
      /** Who authenticates CONNECT credentials: 16/ECAP (`service-instance-name`) or 22/CAP (`client-service-instance-name`). */
      clientProtocol: 'ecap' | 'cap'; // kaa.kpc.authentication.client-protocol      ('ecap')
      clientServiceInstanceName: string; // kaa.kpc.authentication.client-service-instance-name ('ccm')
      defaultTenantId?: string; //   kaa.kpc.authentication.default-tenant-id     (unset: a username must be name@tenant)
    };
    extensionTimeoutMs: number; //   kaa.kpc.extension-timeout  (0 = none)
    trafficReporting: {
      intervalMs: number; //         kaa.kpc.traffic-reporting.interval           (60 s; 0 = off)
      defaultTenantId: string; //    kaa.kpc.traffic-reporting.default-tenant-id  ('default')
    };
    maxUnconfirmed: number; //       kaa.kpc.max-unconfirmed    (10 000)
    maxPendingPerToken: number; //   kaa.kpc.max-pending-per-token (100): messages waiting for a token check
    /** Worker processes behind the same listeners; 1 is a single process with no primary. */
    workers: number; //              kaa.kpc.workers (1; `auto` = one per core)
    cluster: {
      heartbeatIntervalMs: number; // kaa.kpc.cluster.heartbeat-interval (5 s)
      missedHeartbeats: number; //   kaa.kpc.cluster.missed-heartbeats  (3): then a silent replica is declared gone
    };
    inspection: {
      journalLength: number; //      kaa.kpc.inspection.journal-length   (64 events per session)
      retainEnded: number; //        kaa.kpc.inspection.retain-ended     (1 000 ended sessions kept)
      retainEndedForMs: number; //   kaa.kpc.inspection.retain-ended-for (1 h)
    };
  };
  routing: RoutingConfig;
  tekton: {
    enabled: boolean; //  kaa.tekton.enabled (false)
    url?: string; //      kaa.tekton.url     (required when enabled)
    timeoutMs: number; // kaa.tekton.timeout (10 s)
  };
  logLevel: string; //    logging.level ('info'); LOG_LEVEL overrides too
  /** Problems worth a warning line at start that do not stop it (an unknown KAA_ variable, ...). */
  warnings: string[];
}
