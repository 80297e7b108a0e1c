// Structured JSON logs (pino). Secrets never reach a log line: passwords are not passed to the
// logger at all, and tokens appear only as short hashes (see src/actors/session/secret-hash.ts).
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, base: Record<string, unknown>): Logger {
  return pino({
    level,
    base,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
