// KPC writes one JSON object per log line (what log collectors want in production). In the dev
// stack a person reads them, so each JSON line is turned into one short human line by pino-pretty;
// anything else (a crash message, a stack trace) is passed on unchanged.
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { prettyFactory } from 'pino-pretty';

export function prettyPrintLogs(source: Readable, destination: Writable, label: string): void {
  const format = prettyFactory({
    colorize: (destination as { isTTY?: boolean }).isTTY === true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    // Constant per process, and shown once by the dev stack: they would only make every line longer.
    ignore: 'pid,hostname,service,instance,replicaId',
    messageFormat: `[${label}] {msg}`,
  });
  createInterface({ input: source, crlfDelay: Infinity }).on('line', (line) => {
    destination.write(line.startsWith('{') ? format(line) : `${line}\n`);
  });
}
