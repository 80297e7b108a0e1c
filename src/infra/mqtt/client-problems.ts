// What misbehaving MQTT clients do that KPC counts and logs (rate-limited, see ../log-throttle.ts):
// protocol violations that close their connection (MQTT 3.1.1 rules, and packets over
// max-packet-bytes) and clients that stop reading (slow consumers).
import type { ViolationKind } from '../metrics.js';
import { PacketTooLargeError } from './packet-size-guard.js';
import { MalformedStringError } from './utf8-strings.js';

export interface ClientProblems {
  /** A protocol violation closed a connection. */
  violation(kind: ViolationKind, fields: Record<string, unknown>): void;
  /** A client that does not read was disconnected. */
  slowConsumer(fields: Record<string, unknown>): void;
}

/**
 * aedes refuses a PUBLISH topic with a wildcard (MQTT-3.3.2-2), an empty one (MQTT-4.7.3-1) or
 * one with more levels than it allows by closing the connection; it reports them only as errors
 * with these messages (aedes 1.2, lib/handlers/publish.js).
 */
const AEDES_TOPIC_ERRORS = ['# is not allowed in PUBLISH', '+ is not allowed in PUBLISH', 'empty topic not allowed in PUBLISH', 'topic has too many levels'];

/** The protocol violation an error closing a client connection stands for, if it is one. */
export function violationOf(error: Error): ViolationKind | undefined {
  if (error instanceof PacketTooLargeError) return 'packet-too-large';
  if (error instanceof MalformedStringError) return error.kind;
  if (AEDES_TOPIC_ERRORS.includes(error.message)) return 'invalid-topic';
  return undefined;
}
