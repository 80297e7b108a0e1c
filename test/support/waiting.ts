// Bounded waits for the end-to-end tests: every wait has a deadline and rejects with a message that
// says what was awaited, so a test never hangs and never uses a sleep as an assertion.
import { setTimeout as sleep } from 'node:timers/promises';

type Falsy = undefined | null | false;

/**
 * Polls `check` until it returns something truthy (returned), or rejects after `timeoutMs` with
 * "`what` did not happen within … ms" plus `detail()` (the state worth seeing when it fails).
 */
export async function waitUntil<T>(
  check: () => T | Falsy | Promise<T | Falsy>,
  what: string,
  opts: { timeoutMs?: number; intervalMs?: number; detail?: () => string } = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 25, detail } = opts;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() >= deadline) {
      throw new Error(`${what} did not happen within ${timeoutMs} ms${detail ? `\n${detail()}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** `promise`, or a rejection naming `what` if it does not settle within `timeoutMs`. */
export function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Event-driven waits on something that records as it goes (received messages, events): the owner
 * calls `changed()` after each new record or state change, which re-checks every pending wait.
 * A wait resolves with the first truthy `check()`, rejects with what `check()` throws (e.g. "the
 * connection closed while waiting"), or rejects with `failure()` after `timeoutMs`.
 */
export class ChangeWaiters {
  private readonly pending = new Set<() => void>();

  changed(): void {
    for (const attempt of [...this.pending]) attempt();
  }

  waitFor<T>(check: () => T | Falsy, timeoutMs: number, failure: () => Error): Promise<T> {
    return new Promise((resolve, reject) => {
      const finish = (settle: () => void) => {
        this.pending.delete(attempt);
        clearTimeout(timer);
        settle();
      };
      const attempt = () => {
        try {
          const value = check();
          if (value) finish(() => resolve(value));
        } catch (error) {
          finish(() => reject(error));
        }
      };
      const timer = setTimeout(() => finish(() => reject(failure())), timeoutMs);
      this.pending.add(attempt);
      attempt();
    });
  }
}
