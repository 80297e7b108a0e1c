// The one NATS connection of this replica: reconnects forever through the NATS_URLS list and
// tells its listeners when it is up or down (the client itself never says "I dropped your publish").
import { connect, Events, type Msg, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from 'pino';

export interface NatsStatusListener {
  onNatsDisconnected(): void;
  onNatsReconnected(): void;
}

export class NatsLink {
  private listeners: NatsStatusListener[] = [];
  private up = false;

  private constructor(
    readonly connection: NatsConnection,
    private readonly logger: Logger,
  ) {
    this.up = true;
    void this.watchStatus();
  }

  /** Waits until one of the servers accepts us (retrying forever, as a service must). */
  static async open(servers: string[], name: string, logger: Logger): Promise<NatsLink> {
    const connection = await connect({
      servers,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
      pingInterval: 10_000,
    });
    logger.info({ event: 'nats.connected', server: connection.getServer() }, 'connected to NATS');
    return new NatsLink(connection, logger);
  }

  get isConnected(): boolean {
    return this.up && !this.connection.isClosed();
  }

  addListener(listener: NatsStatusListener): void {
    this.listeners.push(listener);
  }

  subscribe(subject: string, handler: (msg: Msg) => void, queue?: string): Subscription {
    return this.connection.subscribe(subject, {
      queue,
      callback: (error, msg) => {
        if (error) this.logger.error({ err: error, subject }, 'NATS subscription error');
        else handler(msg);
      },
    });
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.connection.status()) {
      if (status.type === Events.Disconnect && this.up) {
        this.up = false;
        this.logger.warn({ event: 'nats.disconnected', server: status.data }, 'NATS connection lost');
        for (const listener of this.listeners) listener.onNatsDisconnected();
      } else if (status.type === Events.Reconnect) {
        this.up = true;
        this.logger.info({ event: 'nats.reconnected', server: status.data }, 'NATS connection restored');
        for (const listener of this.listeners) listener.onNatsReconnected();
      }
    }
  }
}
