// One aedes client as the session's MqttConnection port.
import type { AuthenticateError, Client, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import type { Duplex } from 'node:stream';
import type { MqttConnection } from '../../actors/ports.js';

export type ConnackCallback = (error: AuthenticateError | null, success: boolean | null) => void;

export class AedesConnection implements MqttConnection {
  private connack: ConnackCallback | null;

  constructor(
    private readonly client: Client,
    connack: ConnackCallback,
    private readonly logger: Logger,
    private readonly maxOutboundBytes: number,
    /** The socket's peer: for a WebSocket the stream aedes reads has none of its own. */
    readonly remoteAddress: string | undefined,
    private readonly onSlowConsumer: () => void = () => {},
  ) {
    this.connack = connack;
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
    // A client that stops reading would make Node buffer for it without bound: cut it instead.
    if ((this.client.conn as Duplex).writableLength > this.maxOutboundBytes) {
      this.logger.warn({ event: 'connection.slow-consumer', mqttClientId: this.client.id }, 'client does not read; disconnecting it');
      this.onSlowConsumer();
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
