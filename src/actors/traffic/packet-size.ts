// The size of the PUBLISH packet KPC would send (MQTT 3.1.1 sections 2.2 and 3.3): fixed header
// (one byte, then the Remaining Length in 1-4 bytes), topic name (two length bytes + UTF-8), packet
// identifier at QoS > 0, payload. KPC never sends a packet larger than it would itself accept.

export function publishPacketBytes(topic: string, payloadBytes: number, qos: 0 | 1): number {
  const remaining = 2 + Buffer.byteLength(topic, 'utf8') + (qos > 0 ? 2 : 0) + payloadBytes;
  return 1 + remainingLengthBytes(remaining) + remaining;
}

function remainingLengthBytes(length: number): number {
  return length < 128 ? 1 : length < 16_384 ? 2 : length < 2_097_152 ? 3 : 4;
}
