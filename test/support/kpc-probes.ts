// Asking a running KPC how it is, over its HTTP port: GET /health and GET /metrics.
import type { KpcHandle } from './kpc-process.js';
import { waitUntil } from './waiting.js';

export interface HealthAnswer {
  /** The HTTP status, or 'refused' when nothing listens any more. */
  status: number | 'refused';
  body: string;
}

export async function getHealth(kpc: KpcHandle): Promise<HealthAnswer> {
  try {
    const response = await fetch(`${kpc.httpUrl}/health`, { signal: AbortSignal.timeout(2_000) });
    return { status: response.status, body: await response.text() };
  } catch (error) {
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return { status: 'refused', body: '' };
    throw error;
  }
}

/** Polls /health until it answers `status` (bounded). */
export async function waitForHealth(kpc: KpcHandle, status: 200 | 500, timeoutMs = 10_000): Promise<HealthAnswer> {
  let last: HealthAnswer | undefined;
  return waitUntil(
    async () => {
      last = await getHealth(kpc);
      return last.status === status ? last : undefined;
    },
    `/health answering ${status}`,
    { timeoutMs, detail: () => `last answer: ${last?.status} ${last?.body}` },
  );
}

/** A metric's current value from GET /metrics (0 when the series has no sample yet). */
export async function metricValue(kpc: KpcHandle, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${kpc.httpUrl}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? '').split(',').filter(Boolean);
    if (wanted.length === present.length && wanted.every((label) => present.includes(label))) return Number(match[3]);
  }
  return 0;
}
