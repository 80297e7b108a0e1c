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

/**
 * The record is written out field by field, in the schema's order: avsc's compiled writer stays
 * monomorphic for one object shape, while a spread copy of the message cost ~10 % of KPC's CPU per
 * message in a QoS 1 profile (`node bench/run.mjs --only throughput --qos 1 --profile`). The literal is
 * still checked against the record generated from the schema: a field missing, extra or mistyped fails
 * the typecheck.
 */
function encode(message: ClientDataMessage): Buffer {
  return codecs.clientData.encode({
    correlationId: message.correlationId,
    timestamp: message.timestamp,
    timeout: message.timeout,
    appVersionName: message.appVersionName,
    endpointId: message.endpointId,
    resourcePath: message.resourcePath,
    requestId: message.requestId,
    payload: message.payload,
    configName: null,
  });
}
