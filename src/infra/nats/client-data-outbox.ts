// The NATS side of the core's ClientDataOutbox: encodes each ClientData as 4/ESP Avro and publishes
// it with this replica's ExtensionData subject as the reply subject (so the extension's answer comes
// back to the replica that holds the client), through the confirmed publisher.
import type { ClientDataMessage, ClientDataOutbox } from '../../actors/ports.js';
import { codecs, type ClientData } from './codecs.js';
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
    this.publisher.publishAtMostOnce(subject, encodeClientData(message), this.replySubject, handedOver);
  }

  send(subject: string, message: ClientDataMessage, confirmed: () => void): boolean {
    return this.publisher.publish(subject, encodeClientData(message), this.replySubject, confirmed);
  }
}

/**
 * The record is written out field by field, in the schema's order: avsc's compiled writer stays
 * monomorphic for one object shape, while a spread copy of the message cost ~10 % of KPC's CPU per
 * message in a QoS 1 profile (`node bench/run.mjs --only throughput --qos 1 --profile`). The literal is
 * still checked against the record generated from the schema: a field missing, extra or mistyped fails
 * the typecheck.
 *
 * It is written straight into a buffer sized for it: `Type#toBuffer` writes into avsc's shared
 * buffer, then allocates a zero-filled copy. The buffer cannot be reused from one message to the
 * next: the NATS client keeps a reference to each payload until it writes its batch to the socket.
 */
export function encodeClientData(message: ClientDataMessage): Buffer {
  const record: ClientData = {
    correlationId: message.correlationId,
    timestamp: message.timestamp,
    timeout: message.timeout,
    appVersionName: message.appVersionName,
    endpointId: message.endpointId,
    resourcePath: message.resourcePath,
    requestId: message.requestId,
    payload: message.payload,
    configName: null,
  };
  const buffer = Buffer.allocUnsafe(sizeBound(message));
  const end = codecs.clientData.type.encode(record, buffer, 0);
  // A negative end means the buffer was too small; cannot happen with sizeBound, kept as a safety net.
  return end >= 0 ? buffer.subarray(0, end) : codecs.clientData.encode(record);
}

/** Avro: a UTF-16 code unit is at most 3 UTF-8 bytes; lengths and numbers are varints of ≤ 10 bytes. */
const FIXED_BOUND = 10 * 10;

function sizeBound(message: ClientDataMessage): number {
  const characters = message.correlationId.length + message.appVersionName.length + (message.endpointId?.length ?? 0) + message.resourcePath.length;
  return FIXED_BOUND + 3 * characters + message.payload.length;
}
