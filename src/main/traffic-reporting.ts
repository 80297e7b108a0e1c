// Endpoint traffic reports (9/ELCE, Kaa 1.4): the meter the sessions count into, and the timer that
// publishes one report per `kaa.kpc.traffic-reporting.interval`. `flush()` publishes the partial
// interval; the shutdown calls it before it waits for NATS to confirm everything and drains.
import type { Logger } from 'pino';
import { TrafficMeter } from '../actors/traffic/traffic-meter.js';
import type { KpcConfig } from '../infra/config/types.js';
import type { ConfirmedPublisher } from '../infra/nats/confirmed-publisher.js';
import type { NatsLink } from '../infra/nats/connection.js';
import { TrafficReporter } from '../infra/nats/traffic-reports.js';
import type { RoutingTable } from '../actors/traffic/routing.js';

/** nats-server's default max_payload, used until the server has told its own. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export interface TrafficReporting {
  readonly meter: TrafficMeter;
  /** Publishes what the current interval has counted so far and stops the timer. */
  flush(): void;
}

export function startTrafficReporting(
  config: KpcConfig,
  link: NatsLink,
  publisher: ConfirmedPublisher,
  routing: () => RoutingTable,
  logger: Logger,
): TrafficReporting {
  const { intervalMs, defaultTenantId } = config.kpc.trafficReporting;
  // The tenant: the application's `tenant-id`, else the client's (22/CAP), else the default.
  const meter = new TrafficMeter(intervalMs > 0, (appName, clientTenantId) => routing().tenantOf(appName) ?? clientTenantId ?? defaultTenantId);
  const reporter = new TrafficReporter(publisher, {
    instanceName: config.service.instanceName,
    replicaId: config.service.replicaId,
    maxPayloadBytes: () => link.connection.info?.max_payload ?? DEFAULT_MAX_PAYLOAD,
  }, logger);
  const timer = intervalMs > 0 ? setInterval(() => reporter.publish(meter.take()), intervalMs) : undefined;
  timer?.unref();
  return {
    meter,
    flush: () => {
      clearInterval(timer);
      reporter.publish(meter.take());
    },
  };
}
