import type { Logger } from 'pino';

/** Decodes an inbound NATS message; a message that does not decode is logged and skipped, never thrown. */
export function decodeOrWarn<T>(decode: () => T, subject: string, logger: Logger, what: string): T | undefined {
  try {
    return decode();
  } catch (error) {
    logger.warn({ subject, err: (error as Error).message }, `undecodable ${what} ignored`);
    return undefined;
  }
}
