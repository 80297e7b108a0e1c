// The authentication gate remembers a refusal only when the client session chart treats that answer
// as a refusal (CONNACK 4): an answer the chart takes for a failing service (CONNACK 3, e.g. 429 Too
// Many Requests or 503) must be asked again next time, not replayed from memory.
import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { AuthenticationGate, credentialKey } from '../../src/actors/session/authentication-gate.js';
import type { ClientCredentialVerdict, ValidationOutcome } from '../../src/actors/ports.js';
import { clientSessionMachine } from '../../src/machines/client-session.machine.js';

function provider(statusCode: number) {
  const asked: number[] = [];
  const ask = async (): Promise<ValidationOutcome<ClientCredentialVerdict>> => {
    asked.push(statusCode);
    return { ok: true, reply: { statusCode, clientId: null, credentialId: null, reasonPhrase: null, tenantId: null } };
  };
  return { asked, ask };
}

/** The CONNACK the chart answers after one ECAP reply with this status. */
function connackFor(statusCode: number): string {
  const input = { connectionId: 'c', mqttClientId: 'm', transport: 'tcp' as const, authenticationTimeoutMs: 1000 };
  let [snapshot] = initialTransition(clientSessionMachine, input);
  [snapshot] = transition(clientSessionMachine, snapshot, {
    type: 'mqtt.connect', at: 0, username: 'u', passwordPresent: true, certificate: 'none', anonymousAllowed: false,
    serviceAvailable: true, authenticationSlotFree: true,
  });
  const [, actions] = transition(clientSessionMachine, snapshot, { type: 'ecap.replied', kind: 'username-password', statusCode, clientId: null, credentialId: null, tenantId: null });
  const refusal = actions.find((action) => action.type === 'refuseConnection');
  return refusal === undefined ? 'accepted' : `CONNACK ${(refusal.params as { returnCode: number }).returnCode}`;
}

describe('authentication gate and the refusal policy', () => {
  it.each([400, 401, 403, 404])('remembers a %i (the chart refuses it with CONNACK 4): the provider is asked once', async (statusCode) => {
    const gate = new AuthenticationGate(10, 60_000);
    const { asked, ask } = provider(statusCode);
    const key = credentialKey('user', 'wrong');
    await gate.validate(key, ask);
    const second = await gate.validate(key, ask);
    expect(connackFor(statusCode)).toBe('CONNACK 4');
    expect(second.ok && second.reply.statusCode).toBe(statusCode);
    expect(asked).toEqual([statusCode]);
  });

  it.each([429, 409, 500, 503])('does not remember a %i (the chart answers CONNACK 3): the provider is asked again', async (statusCode) => {
    const gate = new AuthenticationGate(10, 60_000);
    const { asked, ask } = provider(statusCode);
    const key = credentialKey('user', 'password');
    await gate.validate(key, ask);
    await gate.validate(key, ask);
    expect(connackFor(statusCode)).toBe('CONNACK 3');
    expect(asked).toEqual([statusCode, statusCode]);
  });

  it('counts validation slots per transport; the chart decides whether to take one', () => {
    const gate = new AuthenticationGate(1, 60_000);
    expect(gate.hasFreeSlot('tcp')).toBe(true);
    gate.take('tcp');
    expect(gate.hasFreeSlot('tcp')).toBe(false);
    expect(gate.hasFreeSlot('tls')).toBe(true);
    gate.release('tcp');
    expect(gate.hasFreeSlot('tcp')).toBe(true);
  });
});
