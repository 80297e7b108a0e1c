// Waits for KPC's management endpoint `GET /health` to answer 200, the service's "ready" signal.
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitForHealthy(
  healthUrl: string,
  opts: { timeoutMs?: number; intervalMs?: number; failure?: () => string | undefined } = {},
): Promise<void> {
  const { timeoutMs = 15_000, intervalMs = 50, failure } = opts;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    const reason = failure?.();
    if (reason) throw new Error(reason);
    try {
      const response = await fetch(healthUrl, { signal: AbortSignal.timeout(Math.max(intervalMs, 1_000)) });
      const body = await response.text();
      if (response.status === 200) return;
      last = `HTTP ${response.status} ${body.slice(0, 200)}`;
    } catch (error) {
      last = (error as Error).cause ? String((error as Error).cause) : String(error);
    }
    if (Date.now() >= deadline) throw new Error(`${healthUrl} did not return 200 within ${timeoutMs} ms (last: ${last})`);
    await sleep(intervalMs);
  }
}
