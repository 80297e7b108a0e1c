// The logger shape the development helpers accept, and the default one: plain console output
// prefixed with `[dev]` so it stands apart from the service's own JSON logs on the same terminal.

export interface DevLogger {
  info(...args: unknown[]): void;
  /** Problems worth seeing (undecodable messages); falls back to `info` when absent. */
  warn?(...args: unknown[]): void;
  /** Per-message detail; dropped when absent, so a benchmark is not slowed by console output. */
  debug?(...args: unknown[]): void;
}

export const consoleDevLogger: DevLogger = {
  info: (...args) => console.log('[dev]', ...args),
  warn: (...args) => console.log('[dev]', ...args),
};

export function warn(logger: DevLogger, ...args: unknown[]): void {
  (logger.warn ?? logger.info).call(logger, ...args);
}
