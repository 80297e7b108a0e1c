// MQTT 3.1.1 section 1.5.3: every UTF-8 encoded string in a packet (topic names, topic filters,
// client id, user name, will topic) must be well-formed UTF-8 (MQTT-1.5.3-1) and must not contain
// U+0000 (MQTT-1.5.3-2); a server that receives one must close the connection. mqtt-packet decodes
// those strings with Buffer#toString, which turns ill-formed bytes into U+FFFD and keeps U+0000, so
// the check has to see the bytes as the parser reads them: this wraps the parser's string reader
// for one connection. A violation becomes a parser error, which makes aedes close the connection.
import { isUtf8 } from 'node:buffer';

export class MalformedStringError extends Error {
  constructor(readonly kind: 'invalid-utf8' | 'null-character') {
    super(kind === 'invalid-utf8'
      ? 'MQTT string is not well-formed UTF-8 (MQTT-1.5.3-1)'
      : 'MQTT string contains U+0000 (MQTT-1.5.3-2)');
  }
}

/** The parts of mqtt-packet's Parser used here (internal API of mqtt-packet 9). */
interface StringParser {
  _pos: number;
  _list: { slice(start: number, end: number): Buffer };
  error: Error | null;
  _parseString(): string | null;
  _emitError(error: Error): void;
}

export function enforceUtf8Strings(parser: unknown): void {
  const target = parser as StringParser;
  const readString = target._parseString;
  target._parseString = function checkedParseString(this: StringParser): string | null {
    const lengthAt = this._pos;
    const text = readString.call(this);
    if (text === null) return null;
    const problem = malformation(text, () => this._list.slice(lengthAt + 2, this._pos));
    // The decoded string is still returned, so that the caller reports no second error; the parser
    // stops at the error and never emits the packet.
    if (problem !== undefined && this.error === null) this._emitError(new MalformedStringError(problem));
    return text;
  };
}

function malformation(text: string, bytes: () => Buffer): MalformedStringError['kind'] | undefined {
  if (text.includes('\u0000')) return 'null-character';
  // The decoder replaces every ill-formed sequence with U+FFFD; a U+FFFD that was sent as such is
  // well-formed, so only then are the bytes themselves checked.
  if (text.includes('\uFFFD') && !isUtf8(bytes())) return 'invalid-utf8';
  return undefined;
}
