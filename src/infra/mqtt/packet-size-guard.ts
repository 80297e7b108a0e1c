// Aedes buffers any PUBLISH whole, however large (a 50 MiB one is accepted). This stream sits
// between the socket and aedes, reads each packet's fixed header (type byte + Remaining Length,
// MQTT 3.1.1 §2.2) as bytes pass, and cuts the connection as soon as a header announces a packet
// over the limit, before its body is buffered anywhere.
import { Duplex } from 'node:stream';

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

/**
 * The client stream as aedes sees it: same bytes both ways, but it errors (and closes the inner
 * stream) on an oversized packet. `inner` is the TCP socket, TLS socket or WebSocket stream.
 */
export class PacketSizeGuard extends Duplex {
  private readonly scanner: FixedHeaderScanner;

  constructor(
    readonly inner: Duplex,
    maxPacketBytes: number,
    readonly remoteAddress: string | undefined,
  ) {
    super();
    this.scanner = new FixedHeaderScanner(maxPacketBytes);
    inner.on('data', (chunk: Buffer) => {
      if (!this.scanner.accept(chunk)) {
        inner.destroy();
        this.destroy(new PacketTooLargeError(`MQTT packet larger than ${maxPacketBytes} bytes`));
      } else if (!this.push(chunk)) {
        inner.pause();
      }
    });
    inner.on('end', () => this.push(null));
    inner.on('close', () => this.destroy());
    inner.on('error', (error) => this.destroy(error));
  }

  // aedes reads this stream in paused mode (aedes-internals.ts, item 8): each read() that finds
  // the buffer empty lands here and lets the socket flow again.
  override _read(): void {
    this.inner.resume();
  }

  // Writes pass straight through and complete at once unless the socket pushes back: waiting for
  // each write to flush would turn mqtt-packet's corked batch into one syscall per packet.
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.passOn(chunk, callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.passOn(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map(({ chunk }) => chunk)), callback);
  }

  private passOn(data: Buffer, callback: (error?: Error | null) => void): void {
    if (this.inner.write(data)) callback();
    else this.inner.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.inner.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inner.destroy();
    callback(error);
  }
}
