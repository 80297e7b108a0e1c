// One aedes client as the session's MqttConnection port.
import type { AuthenticateError, Client, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import type { Duplex } from 'node:stream';
import type { MqttConnection } from '../../actors/ports.js';
import type { ClientProblems } from './client-problems.js';
import { PacketSizeGuard } from './packet-size-guard.js';

export type ConnackCallback = (error: AuthenticateError | null, success: boolean | null) => void;

export class AedesConnection implements MqttConnection {
  readonly remoteAddress: string | undefined;
  private connack: ConnackCallback | null;
  /** Set once the client has been cut as a slow consumer: later deliveries are dropped silently. */
  private cut = false;

  constructor(
    private readonly client: Client,
    connack: ConnackCallback,
    private readonly logger: Logger,
    private readonly maxOutboundBytes: number,
    private readonly problems: ClientProblems,
  ) {
    this.connack = connack;
    this.remoteAddress = (client.conn as { remoteAddress?: string }).remoteAddress;
  }

  accept(): void {
    this.answer(null, true);
  }

  refuse(returnCode: 3 | 4 | 5): void {
    const error = new Error(`connection refused with CONNACK ${returnCode}`) as AuthenticateError;
    error.returnCode = returnCode as AuthenticateError['returnCode'];
    this.answer(error, false);
  }

  deliver(topic: string, payload: Buffer, qos: 0 | 1): void {
    if (this.cut) return;
    // A client that stops reading would make Node buffer for it without bound: cut it instead.
    if (outboundBytes(this.client.conn as Duplex) > this.maxOutboundBytes) {
      this.cut = true;
      this.problems.slowConsumer({ mqttClientId: this.client.id, queuedBytes: outboundBytes(this.client.conn as Duplex) });
      this.client.close();
      return;
    }
    const packet: PublishPacket = { cmd: 'publish', topic, payload, qos, retain: false, dup: false };
    this.client.publish(packet, (error) => {
      if (error) this.logger.debug({ err: error, mqttClientId: this.client.id }, 'delivery to client failed');
    });
  }

  close(reason: string): void {
    // KPC never fans out PUBLISHes (see mqtt-broker.ts), so a will could reach nobody; closing is enough.
    this.logger.debug({ mqttClientId: this.client.id, reason }, 'closing client connection');
    if (this.connack !== null) this.refuse(3);
    this.client.close();
  }

  private answer(error: AuthenticateError | null, success: boolean): void {
    const connack = this.connack;
    this.connack = null; // exactly one CONNACK per connection
    connack?.(error, success);
  }
}

/** Bytes written towards the client and not yet handed to the kernel (the guard's and the socket's). */
function outboundBytes(stream: Duplex): number {
  return stream.writableLength + (stream instanceof PacketSizeGuard ? stream.inner.writableLength : 0);
}
