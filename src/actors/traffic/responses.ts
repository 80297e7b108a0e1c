// 1/KP responses: `/status` carries the extension's payload bytes unchanged, `/error`
// carries `{"statusCode", "reasonPhrase"}` JSON.

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
