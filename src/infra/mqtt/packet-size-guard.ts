// Aedes buffers any PUBLISH whole, however large (a 50 MiB one is accepted). This check reads each
// packet's fixed header (type byte + Remaining Length, MQTT 3.1.1 section 2.2) as the bytes reach
// aedes's parser, and cuts the connection as soon as a header announces a packet over the limit,
// before its body is buffered anywhere.
import type { Duplex } from 'node:stream';

export class PacketTooLargeError extends Error {}

/** Tracks packet boundaries across chunks; `accept` returns false at the first oversized header. */
export class FixedHeaderScanner {
  /** Body bytes of the current packet still to come (skipped without looking). */
  private bodyLeft = 0;
  /** -1: expecting a type byte; otherwise bytes of Remaining Length read so far. */
  private lengthBytes = -1;
  private length = 0;
  private multiplier = 1;

  constructor(private readonly maxPacketBytes: number) {}

  accept(chunk: Uint8Array): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.bodyLeft > 0) {
        const skip = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= skip;
        i += skip;
        continue;
      }
      const byte = chunk[i++]!;
      if (this.lengthBytes === -1) {
        this.lengthBytes = 0;
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if ((byte & 0x80) !== 0 && this.lengthBytes < 4) continue;
      // Header complete: 1 type byte + the length bytes + the body.
      if (1 + this.lengthBytes + this.length > this.maxPacketBytes) return false;
      this.bodyLeft = this.length;
      this.lengthBytes = -1;
    }
    return true;
  }
}

/** The slice of aedes's per-client mqtt-packet parser this check wraps. */
interface PacketParser {
  parse(data: Buffer): number;
}

/**
 * Checks every chunk at the parser, before mqtt-packet buffers it: the first header that announces
 * a packet over the limit destroys `stream` with a PacketTooLargeError (aedes reports it as the
 * client's error and closes). This replaced a stream stage in front of aedes, which cost every
 * connection a Duplex with two buffers and four listeners for the same few comparisons.
 */
export function checkPacketSizeAtParser(parser: PacketParser, stream: Duplex, maxPacketBytes: number): void {
  const scanner = new FixedHeaderScanner(maxPacketBytes);
  const parse = parser.parse;
  parser.parse = function parseWithinLimit(this: PacketParser, data: Buffer): number {
    if (scanner.accept(data)) return parse.call(this, data);
    stream.destroy(new PacketTooLargeError(`MQTT packet larger than ${maxPacketBytes} bytes`));
    return 0;
  };
}
