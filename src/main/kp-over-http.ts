// 1/KP over HTTP wired to the core: its requests go to the registry's HTTP sessions, its Basic
// credentials to the 16/ECAP provider behind the shared authentication gate, its connections into
// the registry's count (shared with MQTT), its numbers into the metrics.
import type { Logger } from 'pino';
import type { Registry } from '../actors/registry/registry.js';
import type { AuthenticationGate } from '../actors/session/authentication-gate.js';
import { authenticateHttpClient } from '../actors/session/http-client-authentication.js';
import type { ClientAuthenticator } from '../actors/ports.js';
import type { KpcConfig } from '../infra/config/types.js';
import { KpHttpListener } from '../infra/http/kp-over-http/kp-http-listener.js';
import type { Metrics } from '../infra/metrics.js';

export function startKpOverHttp(
  config: KpcConfig,
  registry: Registry,
  gate: AuthenticationGate,
  credentials: ClientAuthenticator,
  metrics: Metrics,
  logger: Logger,
): KpHttpListener {
  const counters = registry.hub.counters;
  return KpHttpListener.create(
    config.kpc.http,
    config.kpc.mqtt.connectTimeoutMs,
    { opened: () => registry.httpConnectionOpened(), closed: () => registry.httpConnectionClosed() },
    {
      resolve: (topic) => registry.hub.routing().resolve(topic),
      dispatch: (message) => registry.http.request(message),
      authenticate: (username, password) => authenticateHttpClient(gate, credentials, username, password),
      counters: {
        received: () => metrics.kpRequestsOverHttp.inc(),
        answered: (status) => metrics.httpResponded(status),
        kpError: (status) => counters.kpError(status),
      },
      logger,
    },
  );
}
