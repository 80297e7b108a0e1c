// What an HTTP response of 1/KP over HTTP carries, from an extension's ExtensionData or from KPC's
// own 1/KP error: the extension's status code and payload bytes unchanged; a status code HTTP
// cannot carry as a final answer becomes 502; an error without payload gets the 1/KP error JSON.
import type { ExtensionReply } from '../../../actors/ports.js';
import { errorPayload } from '../../../actors/traffic/responses.js';

export interface HttpAnswer {
  status: number;
  body: Buffer;
  headers: Record<string, string>;
}

/** Statuses whose responses have no body (RFC 9110 sections 15.3.5, 15.3.6, 15.4.5). */
const BODYLESS = new Set([204, 205, 304]);

/** KPC's own answer: the status with `{"statusCode", "reasonPhrase"}` JSON (1/KP). */
export function errorAnswer(statusCode: number, reasonPhrase: string, headers: Record<string, string> = {}): HttpAnswer {
  return { status: statusCode, body: errorPayload(statusCode, reasonPhrase), headers: { 'Content-Type': 'application/json', ...headers } };
}

export function extensionAnswer(data: ExtensionReply): HttpAnswer {
  const { statusCode } = data;
  // 1xx are interim responses in HTTP (RFC 9110 section 15.2): none can end a request.
  if (!Number.isInteger(statusCode) || statusCode < 200 || statusCode > 599) {
    return errorAnswer(502, `Extension '${data.extensionInstanceName ?? '?'}' answered with status ${statusCode}, which HTTP cannot carry`);
  }
  const payload = data.payload ?? Buffer.alloc(0);
  if (statusCode >= 400 && payload.length === 0) return errorAnswer(statusCode, data.reasonPhrase ?? '');
  if (BODYLESS.has(statusCode) || payload.length === 0) return { status: statusCode, body: Buffer.alloc(0), headers: {} };
  return { status: statusCode, body: payload, headers: { 'Content-Type': isJson(payload) ? 'application/json' : 'application/octet-stream' } };
}

/** The bytes a JSON text can start with (RFC 8259 section 2), after optional whitespace. */
const JSON_START = new Set([...'{["-0123456789tfn'].map((c) => c.charCodeAt(0)));
const JSON_WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

function isJson(payload: Buffer): boolean {
  // Most binary payloads are told apart by their first byte, without the cost of a failed parse.
  let first = 0;
  while (first < payload.length && JSON_WHITESPACE.has(payload[first]!)) first++;
  if (first === payload.length || !JSON_START.has(payload[first]!)) return false;
  try {
    JSON.parse(payload.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
