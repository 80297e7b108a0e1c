// The NATS side of the core's ClientDataOutbox: encodes each ClientData as 4/ESP Avro and publishes
// it with this replica's ExtensionData subject as the reply subject (so the extension's answer comes
// back to the replica that holds the client), through the confirmed publisher.
import type { ClientDataMessage, ClientDataOutbox } from '../../actors/ports.js';
import { codecs } from './codecs.js';
import type { ConfirmedPublisher } from './confirmed-publisher.js';
import { subjects } from './subjects.js';

export class NatsClientDataOutbox implements ClientDataOutbox {
  private readonly replySubject: string;

  constructor(
    private readonly publisher: ConfirmedPublisher,
    replicaId: string,
  ) {
    this.replySubject = subjects.replicaExtensionData(replicaId);
  }

  sendAtMostOnce(subject: string, message: ClientDataMessage, handedOver: () => void): void {
    this.publisher.publishAtMostOnce(subject, encode(message), this.replySubject, handedOver);
  }

  send(subject: string, message: ClientDataMessage, confirmed: () => void): boolean {
    return this.publisher.publish(subject, encode(message), this.replySubject, confirmed);
  }
}

function encode(message: ClientDataMessage): Buffer {
  return codecs.clientData.encode({ ...message, configName: null });
}
