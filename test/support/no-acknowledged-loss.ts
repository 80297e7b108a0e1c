// The assertion of the NATS-outage tests (single server and cluster node loss): once the load has
// flowed again after the fault, no client was dropped, every publish got its PUBACK, and every
// PUBACKed payload reached the extension at least once: set(PUBACKed) ⊆ set(received).
import { expect } from 'vitest';
import type { TestClient } from './mqtt.js';
import type { Qos1Load } from './qos1-load.js';
import { waitUntil } from './waiting.js';

export interface OutageRun {
  load: Qos1Load;
  clients: TestClient[];
  /** The idle client whose one message was in flight when NATS went away, and that message. */
  witness: TestClient;
  inFlight: string;
  inFlightAcked: Promise<unknown>;
  /** Payloads published while NATS was down. */
  unacknowledgedDuringOutage: string[];
  received(): Set<string>;
  acksPerClientAfterFault: number;
}

export async function expectNoAcknowledgedLoss(run: OutageRun): Promise<void> {
  const { load, clients, witness } = run;
  const ackedAfter = () => [...load.acked].filter((payload) => load.sent.get(payload) === 'after').length;
  await waitUntil(() => ackedAfter() >= run.acksPerClientAfterFault * clients.length, 'the QoS 1 load flowing again after the fault', {
    timeoutMs: 15_000,
    detail: () => `acked after the fault: ${ackedAfter()}, outstanding: ${load.outstanding().length}`,
  });
  await load.stop();
  await run.inFlightAcked;
  const acked = new Set([...load.acked, run.inFlight]);

  // No client was dropped and every publish got its PUBACK.
  expect(load.errors.map((error) => error.message)).toEqual([]);
  expect([...clients, witness].filter((client) => client.isClosed).map((client) => client.name)).toEqual([]);
  expect(run.unacknowledgedDuringOutage.filter((payload) => !load.acked.has(payload))).toEqual([]);

  const missing = () => [...acked].filter((payload) => !run.received().has(payload));
  await waitUntil(() => missing().length === 0, 'every PUBACKed payload reaching the extension', {
    timeoutMs: 15_000,
    detail: () => `${missing().length} of ${acked.size} PUBACKed payloads never reached the extension, e.g. ${missing().slice(0, 10).join(', ')}`,
  });
}
