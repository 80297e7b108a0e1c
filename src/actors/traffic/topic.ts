// 1/KP topic grammar (Kaa RFC 1/KP over MQTT), parsed with indexOf rather than regular expressions
// because it runs once per PUBLISH:
//
//   kp1/{appVersionName}/{extensionInstanceName}/{extension-specific path}[/{requestId}]
//
// This module only splits the topic; whether the extension-specific path starts with an endpoint
// token depends on the routing configuration (see routing.ts).

export interface KpTopic {
  appVersionName: string;
  extensionInstanceName: string;
  /** Everything after the extension instance name, without a leading `/` and without the request ID. */
  path: string;
  requestId: number | null;
}

const PREFIX = 'kp1/';
const MAX_AVRO_INT = 2 ** 31 - 1;

/** The request ID a topic ends with, or null. Needed even for topics that fail to parse. */
export function trailingRequestId(topic: string): number | null {
  const lastSlash = topic.lastIndexOf('/');
  return parseRequestId(topic, lastSlash + 1);
}

/** Splits a 1/KP topic, or returns null when it is not one (not under kp1/, or too short). */
export function parseKpTopic(topic: string): KpTopic | null {
  if (!topic.startsWith(PREFIX)) return null;
  const versionEnd = topic.indexOf('/', PREFIX.length);
  if (versionEnd <= PREFIX.length) return null;
  const extensionEnd = topic.indexOf('/', versionEnd + 1);
  if (extensionEnd <= versionEnd + 1) return null;

  const lastSlash = topic.lastIndexOf('/');
  let requestId = lastSlash > extensionEnd ? parseRequestId(topic, lastSlash + 1) : null;
  let pathEnd = requestId === null ? topic.length : lastSlash;
  if (pathEnd <= extensionEnd + 1) return null; // no extension-specific path at all
  const path = topic.slice(extensionEnd + 1, pathEnd);
  if (hasEmptyLevel(path)) return null;

  return {
    appVersionName: topic.slice(PREFIX.length, versionEnd),
    extensionInstanceName: topic.slice(versionEnd + 1, extensionEnd),
    path,
    requestId,
  };
}

/**
 * Names and tokens are non-empty and contain none of `+ # / .`: the MQTT wildcards and level
 * separator, and the NATS subject separator (names become parts of NATS subjects).
 */
export function isValidName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2b /* + */ || c === 0x23 /* # */ || c === 0x2f /* / */ || c === 0x2e /* . */) return false;
  }
  return true;
}

function parseRequestId(topic: string, start: number): number | null {
  const length = topic.length - start;
  if (length === 0 || length > 10) return null;
  let value = 0;
  for (let i = start; i < topic.length; i++) {
    const digit = topic.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return null;
    value = value * 10 + digit;
  }
  return value <= MAX_AVRO_INT ? value : null;
}

function hasEmptyLevel(path: string): boolean {
  return path.startsWith('/') || path.endsWith('/') || path.includes('//');
}
