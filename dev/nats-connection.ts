// One way to open a long-lived NATS connection for the development helpers (dev ECAP provider,
// echo extension). They must survive a nats-server restart, so reconnecting never gives up.
import { connect, type NatsConnection } from 'nats';

export function connectToNats(natsUrls: string | string[], name: string): Promise<NatsConnection> {
  return connect({
    servers: natsUrls,
    name,
    maxReconnectAttempts: -1,
    // Tests restart nats-server on purpose; a short wait keeps them fast.
    reconnectTimeWait: 250,
  });
}
