// Just enough MQTT 3.1.1 framing for the bench's workers, by hand: with thousands of sockets (or
// thousands of messages a second) per process, mqtt-packet's per-socket parser objects and
// per-message generate() cost more than the server under test can tolerate next to them.
import mqttPacket from 'mqtt-packet';

export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;

/** CONNECT (clean session); built once per client, so mqtt-packet is fine here. */
export function connectPacket({ clientId, username, password, keepalive = 0 }) {
  return mqttPacket.generate({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive, clientId,
    username, password: password === undefined ? undefined : Buffer.from(password),
  });
}

export const DISCONNECT = Buffer.from([0xe0, 0x00]);

/** PUBLISH (no retain, no dup); `id` is ignored at QoS 0. */
export function publishPacket(topic, payload, qos, id = 1) {
  const topicBytes = Buffer.byteLength(topic);
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + payload.length;
  const lengthBytes = varintLength(remaining);
  const out = Buffer.allocUnsafe(1 + lengthBytes + remaining);
  out[0] = 0x30 | (qos << 1);
  let offset = writeVarint(out, 1, remaining);
  out.writeUInt16BE(topicBytes, offset);
  offset += 2;
  offset += out.write(topic, offset, 'utf8');
  if (qos > 0) {
    out.writeUInt16BE(id, offset);
    offset += 2;
  }
  payload.copy(out, offset);
  return out;
}

export function pubackPacket(id) {
  return Buffer.from([0x40, 0x02, id >> 8, id & 0xff]);
}

function varintLength(n) {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

function writeVarint(buffer, offset, n) {
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    buffer[offset++] = byte;
  } while (n > 0);
  return offset;
}

/**
 * Splits a byte stream into packets: `onPacket(type, flags, body)` with `body` a Buffer view of the
 * variable header + payload (valid only during the call unless copied). Partial packets are kept.
 */
export class FrameReader {
  constructor(onPacket) {
    this.onPacket = onPacket;
    this.pending = null;
  }

  push(chunk) {
    let data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let offset = 0;
    while (offset < data.length) {
      // Fixed header: type/flags byte, then 1-4 bytes of remaining length.
      let length = 0;
      let multiplier = 1;
      let cursor = offset + 1;
      let complete = false;
      while (cursor < data.length && cursor - offset <= 4) {
        const byte = data[cursor++];
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || cursor + length > data.length) break;
      const first = data[offset];
      this.onPacket(first >> 4, first & 0x0f, data.subarray(cursor, cursor + length));
      offset = cursor + length;
    }
    if (offset < data.length) this.pending = Buffer.from(data.subarray(offset)); // a copy: `chunk` may be reused
  }
}

/** Topic, packet id (null at QoS 0) and payload of a PUBLISH body. */
export function parsePublish(flags, body) {
  const qos = (flags >> 1) & 0x03;
  const topicLength = body.readUInt16BE(0);
  const topic = body.toString('utf8', 2, 2 + topicLength);
  let offset = 2 + topicLength;
  let id = null;
  if (qos > 0) {
    id = body.readUInt16BE(offset);
    offset += 2;
  }
  return { qos, topic, id, payload: body.subarray(offset) };
}
