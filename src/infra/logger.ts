// Structured JSON logs (pino). Secrets never reach a log line: passwords are not passed to the
// logger at all, and tokens appear only as short hashes (see secretHash).
import { createHash } from 'node:crypto';
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

/** A short, stable, non-reversible label for a token or other secret, for logs and inspection. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url').slice(0, 10);
}
