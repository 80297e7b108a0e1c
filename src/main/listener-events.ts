// What the MQTT listeners report (rate limiting, PROXY protocol headers, TLS certificate reloads),
// counted in metrics and logged. Lines that a flood of bad connections would repeat are throttled.
import type { Logger } from '../infra/logger.js';
import type { Metrics } from '../infra/metrics.js';
import { TLS_POLL_INTERVAL_MS } from '../infra/mqtt/certificate-reloader.js';
import type { ListenerEvents } from '../infra/mqtt/listeners.js';
import { LogThrottle } from '../infra/throttled-log.js';

const LOG_INTERVAL_MS = 10_000;

export function listenerEvents(metrics: Metrics, logger: Logger): ListenerEvents {
  const throttle = new LogThrottle(LOG_INTERVAL_MS);
  return {
    rateLimited: (listener) => {
      metrics.rateLimited.inc({ listener });
      throttle.log(`rate-limited ${listener}`, (suppressed) =>
        logger.warn({ event: 'connection.rate-limited', listener, suppressed }, 'new connection closed: max-connection-rate reached'),
      );
    },
    proxyHeaderRejected: (listener, reason, peerAddress) => {
      metrics.proxyHeaderRejected.inc({ listener });
      throttle.log(`proxy ${listener}`, (suppressed) =>
        logger.warn({ event: 'connection.proxy-header-rejected', listener, peerAddress, suppressed }, `connection closed: ${reason}`),
      );
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
