// The one NATS connection of this replica: reconnects forever through the NATS_URLS list and
// tells its listeners when it is up or down (the client itself never says "I dropped your publish").
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, DebugEvents, Events, type ConnectionOptions, type Msg, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from 'pino';
import { redactUrl } from '../config/values.js';
import { LogThrottle } from '../log-throttle.js';

/** Pause between first-connection attempts (after the client has tried every server once). */
const FIRST_CONNECT_RETRY_MS = 500;
/** How long one connection attempt may take (the client's default is 20 s). */
const CONNECT_TIMEOUT_MS = 5_000;
/** At most one "cannot connect" line per this interval, so a long outage is visible but not a flood. */
const UNREACHABLE_REPORT_MS = 5_000;

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

  /**
   * Waits until one of the servers accepts us, retrying forever as a service must, and says why
   * each attempt failed (refused, authorization, TLS) at most every few seconds.
   */
  static async open(options: ConnectionOptions, name: string, logger: Logger): Promise<NatsLink> {
    const servers = [options.servers ?? []].flat().map(redactUrl);
    logger.info({ event: 'nats.connecting', servers }, 'connecting to NATS');
    await untilOneServerAccepts(options, (attempts, reason) =>
      logger.warn({ event: 'nats.unreachable', servers, attempts, reason }, `cannot connect to NATS: ${reason}; retrying`),
    );
    // waitOnFirstConnect: without it, the client drops from its list for good every server that
    // fails its first connection (a node down at start could never be reconnected to later).
    const connection = await connect({
      ...options,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
      timeout: CONNECT_TIMEOUT_MS,
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
    // While down: the client reports each attempt (`reconnecting`, no reason) and some failures
    // (`error`: an authorization violation, for one); a line at most every few seconds says both.
    let report = new LogThrottle(UNREACHABLE_REPORT_MS);
    let lastError: string | undefined;
    for await (const status of this.connection.status()) {
      if (status.type === Events.Disconnect && this.up) {
        this.up = false;
        report = new LogThrottle(UNREACHABLE_REPORT_MS);
        lastError = undefined;
        this.logger.warn({ event: 'nats.disconnected', server: status.data }, 'NATS connection lost');
        for (const listener of this.listeners) listener.onNatsDisconnected();
      } else if (status.type === Events.Reconnect) {
        this.up = true;
        this.logger.info({ event: 'nats.reconnected', server: status.data }, 'NATS connection restored');
        for (const listener of this.listeners) listener.onNatsReconnected();
      } else if (status.type === Events.Error) {
        lastError = String(status.data);
      } else if (status.type === DebugEvents.Reconnecting && !this.up) {
        const reason = lastError ?? 'no server accepted the connection';
        report.log('nats.unreachable', (suppressed) =>
          this.logger.warn({ event: 'nats.unreachable', server: status.data, attempts: suppressed + 1, reason }, `cannot reconnect to NATS: ${reason}; retrying`),
        );
      }
    }
  }
}

/**
 * Probes with throw-away connections until one succeeds, reporting each failure (rate limited).
 * The client's own waiting (waitOnFirstConnect) says nothing about why it keeps waiting.
 */
async function untilOneServerAccepts(options: ConnectionOptions, report: (attempts: number, reason: string) => void): Promise<void> {
  const failures = new LogThrottle(UNREACHABLE_REPORT_MS);
  for (;;) {
    try {
      const probe = await connect({ ...options, name: 'kpc start-up probe', reconnect: false, timeout: CONNECT_TIMEOUT_MS });
      await probe.close();
      return;
    } catch (error) {
      failures.log('nats.unreachable', (suppressed) => report(suppressed + 1, natsFailureReason(error)));
      await sleep(FIRST_CONNECT_RETRY_MS);
    }
  }
}

/** The client's reason in words (its errors carry a code such as CONNECTION_REFUSED and a message). */
export function natsFailureReason(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const text = message ?? String(error);
  return code !== undefined && code !== text ? `${text} (${code})` : text;
}
