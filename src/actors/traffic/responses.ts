// 1/KP responses: `/status` carries the extension's payload bytes unchanged, `/error`
// carries `{"statusCode", "reasonPhrase"}` JSON.
import type { ExtensionReply } from '../ports.js';

export function statusTopic(requestTopic: string): string {
  return requestTopic + '/status';
}

export function errorTopic(requestTopic: string): string {
  return requestTopic + '/error';
}

export function errorPayload(statusCode: number, reasonPhrase: string): Buffer {
  return Buffer.from(JSON.stringify({ statusCode, reasonPhrase }));
}

/** The topic of a push to an endpoint-aware client (no request to answer): the request topic an extension would have answered. */
export function pushTopic(
  appVersionName: string,
  extensionInstanceName: string,
  token: string,
  resourcePath: string,
  requestId: number | null,
): string {
  const path = resourcePath.startsWith('/') ? resourcePath : '/' + resourcePath;
  const base = `kp1/${appVersionName}/${extensionInstanceName}/${token}${path}`;
  return requestId === null ? base : `${base}/${requestId}`;
}

/** `/status` with the payload bytes unchanged below 400, `/error` with a JSON error from 400 on. */
export function responseFor(requestTopic: string, data: ExtensionReply): [string, Buffer] {
  if (data.statusCode < 400) return [statusTopic(requestTopic), data.payload ?? Buffer.alloc(0)];
  return [errorTopic(requestTopic), errorPayload(data.statusCode, data.reasonPhrase ?? '')];
}
