// What the MQTT listeners and the broker report (rate limiting, PROXY protocol headers, TLS
// certificate reloads, CONNECT latency, protocol violations, slow consumers), counted in metrics
// and logged. Lines that a flood of bad connections or clients would repeat are throttled.
import type { ThrottledLog } from '../infra/log-throttle.js';
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import { TLS_POLL_INTERVAL_MS } from '../infra/mqtt/certificate-reloader.js';
import type { ListenerEvents } from '../infra/mqtt/listeners.js';
import type { ConnectionObserver } from '../infra/mqtt/mqtt-broker.js';

export function listenerEvents(metrics: Metrics, logger: Logger, throttled: ThrottledLog): ListenerEvents {
  return {
    rateLimited: (listener) => {
      metrics.rateLimited.inc({ listener });
      throttled.warn('connection.rate-limited', listener, { listener }, 'new connection closed: max-connection-rate reached');
    },
    proxyHeaderRejected: (listener, reason, peerAddress) => {
      metrics.proxyHeaderRejected.inc({ listener });
      throttled.warn('connection.proxy-header-rejected', listener, { listener, peerAddress }, `connection closed: ${reason}`);
    },
    tlsLoaded: (listener, loaded, reloaded) => {
      if (reloaded) metrics.tlsReloads.inc({ listener, outcome: 'reloaded' });
      metrics.tlsCertificateExpiry.set({ listener }, loaded.notAfter.getTime() / 1000);
      metrics.tlsReloadFailing.set({ listener }, 0);
      logger.info({ event: 'tls.certificate-loaded', listener, serialNumber: loaded.serialNumber, notAfter: loaded.notAfter.toISOString() }, reloaded ? 'TLS certificate reloaded: new handshakes present it' : 'TLS certificate loaded');
    },
    tlsReloadFailed: (listener, error) => {
      metrics.tlsReloads.inc({ listener, outcome: 'failed' });
      metrics.tlsReloadFailing.set({ listener }, 1);
      logger.error({ event: 'tls.reload-failed', listener }, `TLS certificate not reloaded, the previous one is still served: ${error.message}`);
    },
    tlsWatchFailed: (listener, error) => {
      logger.warn({ event: 'tls.watch-failed', listener, err: error.message }, `cannot watch the TLS files for changes; checking them every ${TLS_POLL_INTERVAL_MS / 1000} s instead`);
    },
  };
}

export function connectionObserver(metrics: Metrics, throttled: ThrottledLog): ConnectionObserver {
  return {
    authenticated: metrics.authenticated,
    violation: (kind, fields) => {
      metrics.protocolViolations.inc({ kind });
      throttled.warn('connection.protocol-violation', kind, fields, 'MQTT protocol violation; connection closed');
    },
    slowConsumer: (fields) => {
      metrics.slowConsumers.inc();
      throttled.warn('connection.slow-consumer', 'mqtt', fields, 'client does not read; disconnecting it');
    },
  };
}
