// Everything KPC relies on in aedes that is not its documented API, in one place. Verified with
// aedes 1.2.0 (pinned exactly in package.json) and the mqtt-packet 9.0.2 parser it creates per
// client; test/unit/aedes-internals.test.ts runs each item against the real aedes, so an upgrade
// starts with that test. The rest of src/infra/mqtt uses only the functions below and aedes's
// documented hooks (authenticate, authorizePublish, authorizeSubscribe, client.publish/close).
//
// Reached into (code):
//  1. `client._parser`, aedes's per-client mqtt-packet Parser, emits each packet ('packet') before
//     aedes's own listener handles it, so a listener prepended there sees (and may amend) every
//     packet first: `beforeAedesHandles`.
//  2. The Parser's `settings` is the whole CONNECT packet (client id, user name, password, will),
//     kept for the connection's life though only `protocolVersion` is read from it:
//     `keepOnlyProtocolVersion` swaps in a shared object holding just that.
//  3. The Parser reads every MQTT string through `_parseString()` (at `_pos`, from the buffer list
//     `_list`, after the 2-byte length) and `_emitError(error)` stops it with an error that aedes
//     turns into a closed connection: `checkEachString`.
//  4. `aedes.publish` is the one fan-out path (retained store, subscription matching, wills, $SYS):
//     an own property replacing it switches fan-out off, and a client's PUBLISH is still
//     acknowledged once `authorizePublish` is done: `disableFanOut`.
//
// Relied on (behaviour):
//  5. `authorizePublish` holds the PUBLISH: PUBACK (QoS 1) or PUBREC (QoS 2) is written only when its
//     callback is called, so the data path runs there and acknowledges once NATS has the message.
//  6. For QoS 2, aedes calls `authorizePublish` for a retransmission (same packet id, before PUBREL)
//     again: its duplicate check comes after the hook (exactly-once.ts keeps KPC's own receipts).
//  7. SUBACK carries the QoS the SUBSCRIBE *requested*, whatever `authorizeSubscribe` grants: the
//     QoS cap is applied to the parsed packet, in a `beforeAedesHandles` listener.
//  8. aedes reads the stream it is handed in paused mode ('readable' and read()), so a stream
//     handed over paused, with bytes unshifted back into it, loses nothing, and backpressure
//     reaches the packet-size guard's `_read`.
//  9. `authenticate` runs a turn after CONNECT is parsed: the stream may be destroyed by then
//     (mqtt-broker.ts checks `conn.destroyed`).
import type { Aedes, Client } from 'aedes';

/** The fields of mqtt-packet's parsed packets KPC reads or amends before aedes handles them. */
export interface ParsedPacket {
  cmd: string;
  messageId?: number;
  protocolVersion?: number;
  subscriptions?: Array<{ qos: number }>;
  unsubscriptions?: string[];
}

/** mqtt-packet 9's Parser, as far as KPC touches it (items 1–3). */
interface PacketParser extends NodeJS.EventEmitter {
  settings: object;
  _pos: number;
  _list: { slice(start: number, end: number): Buffer };
  error: Error | null;
  _parseString(): string | null;
  _emitError(error: Error): void;
}

function parserOf(client: Client): PacketParser {
  return (client as unknown as { _parser: PacketParser })._parser;
}

/** Item 1: `listener` sees each packet of this client as parsed, before aedes handles it. */
export function beforeAedesHandles(client: Client, listener: (packet: ParsedPacket) => void): void {
  parserOf(client).prependListener('packet', listener);
}

/** One shared settings object per protocol version, for every parser. */
const parserSettings = new Map<number, { protocolVersion: number }>();

/** Item 2: once CONNECT is parsed, the parser keeps its protocol version and nothing else of it. */
export function keepOnlyProtocolVersion(client: Client): void {
  parserOf(client).prependListener('packet', forgetConnectPacket);
}

function forgetConnectPacket(this: PacketParser, packet: ParsedPacket): void {
  if (packet.cmd !== 'connect' || packet.protocolVersion === undefined) return;
  let settings = parserSettings.get(packet.protocolVersion);
  if (settings === undefined) parserSettings.set(packet.protocolVersion, (settings = Object.freeze({ protocolVersion: packet.protocolVersion })));
  this.settings = settings;
}

/**
 * Item 3: `check` sees every MQTT string of this client's packets as decoded, with a way to get its
 * bytes as sent; an error it returns stops the parser (the packet is never emitted) and aedes closes
 * the connection, reporting the error as a `clientError`/`connectionError`.
 */
export function checkEachString(client: Client, check: (text: string, bytes: () => Buffer) => Error | undefined): void {
  const parser = parserOf(client);
  const readString = parser._parseString;
  parser._parseString = function checkedParseString(this: PacketParser): string | null {
    const lengthAt = this._pos;
    const text = readString.call(this);
    if (text === null) return null;
    const problem = check(text, () => this._list.slice(lengthAt + 2, this._pos));
    // The decoded string is still returned, so that the caller reports no second error; the parser
    // stops at the error and never emits the packet.
    if (problem !== undefined && this.error === null) this._emitError(problem);
    return text;
  };
}

/**
 * Item 4: no PUBLISH is delivered to any subscription, retained, or sent as a will; clients' own
 * PUBLISHes are still acknowledged as `authorizePublish` allows.
 */
export function disableFanOut(aedes: Aedes): void {
  (aedes as unknown as { publish: (...args: unknown[]) => void }).publish = (_packet, clientOrDone, done) => {
    const callback = typeof clientOrDone === 'function' ? clientOrDone : done;
    if (typeof callback === 'function') callback();
  };
}
