// QoS 2 from a client (MQTT 3.1.1 section 4.3.3): the receiver must not deliver a PUBLISH again
// for a packet id until the client's PUBREL for it, however often the client retransmits it (with
// DUP) before. aedes checks for duplicates only after the authorizePublish hook, where KPC relays
// the message (aedes-internals.ts, item 6): KPC keeps its own receipts per connection. A retransmission is not relayed; it is
// acknowledged (PUBREC) when, and as, the first one was.
import type { PublishAck } from '../../actors/ports.js';

interface Receipt {
  settled: boolean;
  error: Error | undefined;
  waiting: PublishAck[];
}

export class ExactlyOnceReceipts {
  private readonly receipts = new Map<number, Receipt>();

  /**
   * For a packet id seen for the first time since its last PUBREL: the acknowledgement to relay
   * the message with. For a retransmission: undefined (do not relay); `ack` runs with the first one's.
   */
  receive(messageId: number, ack: PublishAck): PublishAck | undefined {
    const known = this.receipts.get(messageId);
    if (known !== undefined) {
      if (known.settled) ack(known.error);
      else known.waiting.push(ack);
      return undefined;
    }
    const receipt: Receipt = { settled: false, error: undefined, waiting: [ack] };
    this.receipts.set(messageId, receipt);
    return (error?: Error) => {
      receipt.settled = true;
      receipt.error = error;
      for (const waiting of receipt.waiting.splice(0)) waiting(error);
    };
  }

  /** PUBREL: the exchange for this packet id is over; the id may carry a new message next. */
  released(messageId: number): void {
    this.receipts.delete(messageId);
  }
}
