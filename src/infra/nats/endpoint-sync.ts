// Teaching a replica which endpoints another replica holds, when 9/ELCE events cannot: a replica
// that started after those endpoints connected, or one that was wrongly declared gone. When a
// replica first hears another's heartbeat it asks it directly; the answer lists the endpoints the
// other holds, in chunks (a NATS message is 1 MiB at most). KPC's own subjects and JSON payloads.
import type { NatsLink } from './connection.js';
import type { UndecodableMessages } from './undecodable-messages.js';
import { subjects } from './subjects.js';

interface HeldEndpoints {
  replicaId: string;
  /** endpointId → appVersionName */
  endpoints: Record<string, string>;
}

const ENDPOINTS_PER_MESSAGE = 5_000;

export interface EndpointSync {
  /** Asks `replicaId` to send us the endpoints it holds. */
  ask(replicaId: string): void;
}

export function runEndpointSync(
  nats: NatsLink,
  replicaId: string,
  undecodable: UndecodableMessages,
  handlers: { heldHere(): Record<string, string>; learned(replicaId: string, endpoints: Record<string, string>): void },
): EndpointSync {
  const requests = subjects.endpointSyncRequest(replicaId);
  const answers = subjects.endpointSyncAnswer(replicaId);
  nats.subscribe(requests, (msg) => {
    const asker = undecodable.decode(() => parseJson<{ replicaId: string }>(msg.data), requests, msg.subject, 'endpoint sync message');
    if (typeof asker?.replicaId !== 'string') return;
    const entries = Object.entries(handlers.heldHere());
    for (let i = 0; i === 0 || i < entries.length; i += ENDPOINTS_PER_MESSAGE) {
      const chunk: HeldEndpoints = { replicaId, endpoints: Object.fromEntries(entries.slice(i, i + ENDPOINTS_PER_MESSAGE)) };
      nats.connection.publish(subjects.endpointSyncAnswer(asker.replicaId), Buffer.from(JSON.stringify(chunk)));
    }
  });
  nats.subscribe(answers, (msg) => {
    const answer = undecodable.decode(() => parseJson<HeldEndpoints>(msg.data), answers, msg.subject, 'endpoint sync message');
    if (typeof answer?.replicaId === 'string' && typeof answer.endpoints === 'object') handlers.learned(answer.replicaId, answer.endpoints);
  });
  const request = Buffer.from(JSON.stringify({ replicaId }));
  return {
    ask: (other) => {
      if (nats.isConnected) nats.connection.publish(subjects.endpointSyncRequest(other), request);
    },
  };
}

export function parseJson<T>(data: Uint8Array): T {
  return JSON.parse(Buffer.from(data).toString('utf8')) as T;
}
