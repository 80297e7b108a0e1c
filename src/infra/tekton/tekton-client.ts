// 17/SCMP: one read of this service instance's application configurations from Tekton.
// `GET {kaa.tekton.url}/api/v1/service-instances/{service.instance.name}/app-configs` answers a JSON
// object of the same shape as `kaa.applications`; it is validated exactly as the file's tree is.
import type { ApplicationConfig } from '../../actors/traffic/routing.js';
import { parseApplications } from '../config/routing.js';
import { ConfigError, redactUrl } from '../config/values.js';

export type Applications = Record<string, ApplicationConfig>;

/** How the applications tree is named in validation errors: the body of Tekton's answer. */
const BODY_ROOT = 'app-configs';

/** The app-configs URL for `instanceName` under the Tekton base URL (a trailing `/` is allowed). */
export function appConfigsUrl(baseUrl: string, instanceName: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/api/v1/service-instances/${encodeURIComponent(instanceName)}/app-configs`;
}

/** A URL as shown in logs and errors: any user:password@ removed (the one rule for every URL KPC prints). */
export { redactUrl };

export class TektonError extends Error {
  override name = 'TektonError';
}

/**
 * Fetches and validates the applications tree. Resolves with the typed tree; rejects with a
 * TektonError that names the URL and the reason (unreachable, timed out, HTTP status, not JSON,
 * invalid shape). `timeoutMs` bounds the whole exchange, body included; `signal` aborts it early.
 */
export async function fetchAppConfigs(url: string, timeoutMs: number, signal?: AbortSignal): Promise<Applications> {
  const shown = redactUrl(url);
  const timeout = AbortSignal.timeout(timeoutMs);
  const abort = signal === undefined ? timeout : AbortSignal.any([timeout, signal]);
  let text: string;
  try {
    const response = await fetch(url, { signal: abort, headers: { accept: 'application/json' } });
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new TektonError(`Tekton at ${shown} answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
    }
    text = await response.text();
  } catch (error) {
    if (error instanceof TektonError) throw error;
    if (timeout.aborted) throw new TektonError(`Tekton at ${shown} did not answer within ${timeoutMs} ms`);
    if (signal?.aborted) throw new TektonError(`request to Tekton at ${shown} was cancelled`);
    throw new TektonError(`Tekton at ${shown} cannot be reached: ${reasonOf(error)}`);
  }
  return parseAppConfigs(text, shown);
}

/** Parses and validates an app-configs body; `shownUrl` is only used in error messages. */
export function parseAppConfigs(text: string, shownUrl: string): Applications {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new TektonError(`Tekton at ${shownUrl} answered invalid JSON: ${(error as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new TektonError(`Tekton at ${shownUrl} answered invalid app-configs: expected a JSON object of applications, got ${body === null ? 'null' : Array.isArray(body) ? 'a list' : `a ${typeof body}`}`);
  }
  try {
    return parseApplications(body, BODY_ROOT);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const detail = error.message.replace(/^Invalid configuration: /, '');
    throw new TektonError(`Tekton at ${shownUrl} answered invalid app-configs: ${detail}`);
  }
}

/** fetch's own message is just "fetch failed"; the useful part (ECONNREFUSED, ENOTFOUND…) is the cause. */
function reasonOf(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === undefined || cause.message.includes(code)) return cause.message || cause.name;
    return [code, cause.message].filter((part) => part !== '').join(' ');
  }
  return error instanceof Error ? error.message : String(error);
}
