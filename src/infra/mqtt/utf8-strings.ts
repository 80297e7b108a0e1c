// MQTT 3.1.1 section 1.5.3: every UTF-8 encoded string in a packet (topic names, topic filters,
// client id, user name, will topic) must be well-formed UTF-8 (MQTT-1.5.3-1) and must not contain
// U+0000 (MQTT-1.5.3-2); a server that receives one must close the connection. mqtt-packet decodes
// those strings with Buffer#toString, which turns ill-formed bytes into U+FFFD and keeps U+0000, so
// the check has to see the bytes as the parser reads them (aedes-internals.ts `checkEachString`,
// which turns the error returned here into a parser error: aedes then closes the connection).
import { isUtf8 } from 'node:buffer';

export class MalformedStringError extends Error {
  constructor(readonly kind: 'invalid-utf8' | 'null-character') {
    super(kind === 'invalid-utf8'
      ? 'MQTT string is not well-formed UTF-8 (MQTT-1.5.3-1)'
      : 'MQTT string contains U+0000 (MQTT-1.5.3-2)');
  }
}

/** The violation in one MQTT string as decoded (`bytes` gives it as sent), if any. */
export function malformedString(text: string, bytes: () => Buffer): MalformedStringError | undefined {
  const kind = malformation(text, bytes);
  return kind === undefined ? undefined : new MalformedStringError(kind);
}

function malformation(text: string, bytes: () => Buffer): MalformedStringError['kind'] | undefined {
  if (text.includes('\u0000')) return 'null-character';
  // The decoder replaces every ill-formed sequence with U+FFFD; a U+FFFD that was sent as such is
  // well-formed, so only then are the bytes themselves checked.
  if (text.includes('\uFFFD') && !isUtf8(bytes())) return 'invalid-utf8';
  return undefined;
}
