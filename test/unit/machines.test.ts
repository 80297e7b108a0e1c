// The charts through the pure transition() API: next state and the actions it asks for, as data.
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyStateMachine } from 'xstate';
import { clientSessionMachine, type ClientSessionEvent } from '../../src/machines/client-session.machine.js';
import { endpointSessionMachine, type EndpointSessionEvent } from '../../src/machines/endpoint-session.machine.js';
import { registryMachine } from '../../src/machines/registry.machine.js';

/** Folds events through transition(); returns the final state and the actions asked for (assign is applied, not listed). */
function run(machine: AnyStateMachine, input: unknown, events: Array<{ type: string; [field: string]: unknown }>) {
  let [snapshot, actions] = initialTransition(machine, input);
  const asked = actions.map(describeAction);
  for (const event of events) {
    [snapshot, actions] = transition(machine, snapshot, event);
    asked.push(...actions.map(describeAction));
  }
  return { state: snapshot.value, status: snapshot.status, context: snapshot.context, actions: asked.filter((a) => !a.startsWith('xstate.')) };
}

function describeAction(action: { type: string; params?: unknown }): string {
  const params = action.params as Record<string, unknown> | undefined;
  return params && Object.keys(params).length > 0 ? `${action.type}(${Object.values(params).join(',')})` : action.type;
}

const clientInput = { connectionId: 'c1', mqttClientId: 'm1', transport: 'tcp' as const, authenticationTimeoutMs: 1000 };
const connect = (overrides: Partial<Extract<ClientSessionEvent, { type: 'mqtt.connect' }>> = {}): ClientSessionEvent => ({
  type: 'mqtt.connect', at: 1, username: 'u', passwordPresent: true, certificate: 'none', anonymousAllowed: false, serviceAvailable: true, authenticationSlotFree: true, ...overrides,
});
const replied = (statusCode: number): ClientSessionEvent => ({
  type: 'ecap.replied', kind: 'username-password', statusCode, clientId: 'client-1', credentialId: 'cred-1', tenantId: null,
});

describe('client session chart', () => {
  it('accepts valid credentials (CONNACK 0) and remembers the ids', () => {
    const result = run(clientSessionMachine, clientInput, [connect(), replied(200)]);
    expect(result.state).toBe('active');
    expect(result.actions).toEqual(['takeAuthenticationSlot', 'requestAuthentication', 'releaseAuthenticationSlot', 'acceptConnection']);
    expect(result.context).toMatchObject({ clientId: 'client-1', credentialIds: ['cred-1'], connectedAt: 1 });
  });

  it.each([
    [400, 4], [401, 4], [403, 4], [404, 4], [500, 3], [503, 3],
  ])('maps ECAP %i to CONNACK %i', (statusCode, returnCode) => {
    const result = run(clientSessionMachine, clientInput, [connect(), replied(statusCode)]);
    expect(result.state).toBe('rejected');
    expect(result.actions).toEqual(['takeAuthenticationSlot', 'requestAuthentication', 'releaseAuthenticationSlot', `refuseConnection(${returnCode})`]);
  });

  it('refuses with 3 when ECAP times out, fails, or the service is unavailable', () => {
    expect(run(clientSessionMachine, clientInput, [connect(), { type: 'xstate.after.authenticationTimeout.clientSession.authenticating' }]).actions)
      .toEqual(['takeAuthenticationSlot', 'requestAuthentication', 'releaseAuthenticationSlot', 'refuseConnection(3)']);
    expect(run(clientSessionMachine, clientInput, [connect(), { type: 'ecap.failed', kind: 'username-password', reason: 'nats-unavailable' } as ClientSessionEvent]).actions)
      .toEqual(['takeAuthenticationSlot', 'requestAuthentication', 'releaseAuthenticationSlot', 'refuseConnection(3)']);
    expect(run(clientSessionMachine, clientInput, [connect({ serviceAvailable: false })]).actions).toEqual(['refuseConnection(3)']);
  });

  it('refuses at once with 3, as its own outcome, when every authentication slot is taken', () => {
    const full = run(clientSessionMachine, clientInput, [connect({ authenticationSlotFree: false })]);
    expect(full.actions).toEqual(['refuseConnection(3)']);
    expect(full.context.endReason).toBe('too many authentications in flight');
    const down = run(clientSessionMachine, clientInput, [connect({ serviceAvailable: false })]);
    expect(down.context.endReason).toBe('service unavailable');
    // A client presenting no credentials needs no slot.
    const anonymous = { username: null, passwordPresent: false, anonymousAllowed: true, authenticationSlotFree: false };
    expect(run(clientSessionMachine, clientInput, [connect(anonymous)]).state).toBe('active');
  });

  it('frees the authentication slot however authentication ends', () => {
    for (const end of [{ type: 'mqtt.disconnected', at: 2, reason: 'gone' }, { type: 'service.stopping' }]) {
      expect(run(clientSessionMachine, clientInput, [connect(), end]).actions).toContain('releaseAuthenticationSlot');
    }
  });

  it('refuses a certificate that failed verification with 4, without asking ECAP', () => {
    expect(run(clientSessionMachine, clientInput, [connect({ certificate: 'untrusted' })]).actions).toEqual(['refuseConnection(4)']);
  });

  it('refuses anonymous clients with 5 unless anonymous access is allowed', () => {
    const anonymous = { username: null, passwordPresent: false };
    expect(run(clientSessionMachine, clientInput, [connect(anonymous)]).actions).toEqual(['refuseConnection(5)']);
    const allowed = run(clientSessionMachine, clientInput, [connect({ ...anonymous, anonymousAllowed: true })]);
    expect(allowed.state).toBe('active');
    expect(allowed.actions).toEqual(['acceptConnection']);
  });

  it('waits for every presented credential before accepting', () => {
    const both = connect({ certificate: 'trusted' });
    const halfway = run(clientSessionMachine, clientInput, [both, replied(200)]);
    expect(halfway.state).toBe('authenticating');
    const done = run(clientSessionMachine, clientInput, [both, replied(200), { ...replied(200), kind: 'certificate', credentialId: 'cred-2' } as ClientSessionEvent]);
    expect(done.state).toBe('active');
    expect(done.context).toMatchObject({ credentialIds: ['cred-1', 'cred-2'] });
  });

  it('remembers the tenant 22/CAP names, and is revoked only by its own tenant\'s revocation', () => {
    const inTenant: ClientSessionEvent = { ...replied(200), tenantId: 'acme' } as ClientSessionEvent;
    const active = run(clientSessionMachine, clientInput, [connect(), inTenant]);
    expect(active.context).toMatchObject({ tenantId: 'acme', credentialIds: ['cred-1'] });
    const otherTenant = run(clientSessionMachine, clientInput, [connect(), inTenant, { type: 'credential.revoked', credentialId: 'cred-1', tenantId: 'other' }]);
    expect(otherTenant.state).toBe('active');
    const sameTenant = run(clientSessionMachine, clientInput, [connect(), inTenant, { type: 'credential.revoked', credentialId: 'cred-1', tenantId: 'acme' }]);
    expect(sameTenant.state).toBe('revoked');
  });

  it('is revoked only by a credential it holds, closing the connection and ending its endpoints', () => {
    const other = run(clientSessionMachine, clientInput, [connect(), replied(200), { type: 'credential.revoked', credentialId: 'cred-x', tenantId: null }]);
    expect(other.state).toBe('active');
    const revoked = run(clientSessionMachine, clientInput, [connect(), replied(200), { type: 'credential.revoked', credentialId: 'cred-1', tenantId: null }]);
    expect(revoked.state).toBe('revoked');
    expect(revoked.status).toBe('done');
    expect(revoked.actions.slice(4)).toEqual(['closeConnection', 'endEndpointSessions']);
  });

  it('closes on disconnect (ending endpoint sessions) and on shutdown (closing the connection too)', () => {
    const closed = run(clientSessionMachine, clientInput, [connect(), replied(200), { type: 'mqtt.disconnected', at: 2, reason: 'keepalive timeout' }]);
    expect(closed.state).toBe('closed');
    expect(closed.context).toMatchObject({ endReason: 'keepalive timeout' });
    expect(closed.actions.at(-1)).toBe('endEndpointSessions');
    const stopping = run(clientSessionMachine, clientInput, [connect(), replied(200), { type: 'service.stopping' }]);
    expect(stopping.actions.slice(4)).toEqual(['closeConnection', 'endEndpointSessions']);
  });

  it('ignores a late ECAP reply after the client went away', () => {
    const result = run(clientSessionMachine, clientInput, [connect(), { type: 'mqtt.disconnected', at: 2, reason: 'gone' }, replied(200)]);
    expect(result.state).toBe('closed');
    expect(result.actions).not.toContain('acceptConnection');
  });
});

const endpointInput = {
  sessionId: 'e1', appName: 'app', appVersionName: 'v1', tokenHash: 'h', identificationTimeoutMs: 1000, negativeCacheMs: 10_000, maxHeldMessages: 2,
};
const published: EndpointSessionEvent = { type: 'kp.published', message: {} };
const tokenReplied = (statusCode: number, endpointId: string | null = 'ep-1'): EndpointSessionEvent => ({
  type: 'ecap.replied', statusCode, endpointId, tokenId: 'tok-1', reasonPhrase: statusCode === 200 ? null : 'nope',
});

describe('endpoint session chart', () => {
  it('asks once, holds messages in order, then becomes active and announces itself', () => {
    const result = run(endpointSessionMachine, endpointInput, [published, published, tokenReplied(200)]);
    expect(result.state).toBe('active');
    expect(result.actions).toEqual([
      'requestIdentification', 'holdMessage', 'holdMessage', 'claimEndpoint', 'announceConnected', 'forwardHeldMessages', 'grantHeldSubscriptions',
    ]);
    expect(result.context).toMatchObject({ endpointId: 'ep-1', tokenId: 'tok-1', heldMessages: 0 });
  });

  it('refuses messages past the hold bound with 503', () => {
    const result = run(endpointSessionMachine, endpointInput, [published, published, published]);
    expect(result.actions.at(-1)).toBe('refuseMessage(503,Too many messages waiting for endpoint identification)');
  });

  it('remembers a rejected token for the negative-cache period, answering each message with the rejection', () => {
    const rejected = run(endpointSessionMachine, endpointInput, [published, tokenReplied(403), published]);
    expect(rejected.state).toBe('rejected');
    expect(rejected.context).toMatchObject({ rejection: { statusCode: 403, reasonPhrase: 'nope' } });
    expect(rejected.actions.slice(-1)).toEqual(['answerWithRejection']);
    const expired = run(endpointSessionMachine, endpointInput, [tokenReplied(404), { type: 'xstate.after.negativeCache.endpointSession.rejected' }]);
    expect(expired.state).toBe('expired');
    expect(expired.status).toBe('done');
  });

  it.each([
    ['an ECAP 5xx', tokenReplied(503)],
    ['a 200 without endpoint id', tokenReplied(200, null)],
    ['a failed request', { type: 'ecap.failed', reason: 'nats-unavailable' } as EndpointSessionEvent],
    ['a timeout', { type: 'xstate.after.identificationTimeout.endpointSession.identifying' } as never],
  ])('ends unavailable after %s, answering held messages with 503', (_, event) => {
    const result = run(endpointSessionMachine, endpointInput, [published, event]);
    expect(result.state).toBe('unavailable');
    expect(result.actions).toContain('answerUnavailable');
  });

  it('roams when another session announces the endpoint, and comes back when its client speaks again', () => {
    const roamed = run(endpointSessionMachine, endpointInput, [tokenReplied(200), { type: 'elce.connected', originatorReplicaId: 'r2' }]);
    expect(roamed.state).toBe('roamed');
    const back = run(endpointSessionMachine, endpointInput, [tokenReplied(200), { type: 'elce.connected', originatorReplicaId: 'r2' }, published]);
    expect(back.state).toBe('active');
    expect(back.actions.slice(-3)).toEqual(['claimEndpoint', 'announceConnected', 'forwardMessage']);
  });

  it('is revoked by its own token id only, announcing disconnected when it held the endpoint', () => {
    const other = run(endpointSessionMachine, endpointInput, [tokenReplied(200), { type: 'token.revoked', tokenIds: ['tok-9'] }]);
    expect(other.state).toBe('active');
    const revoked = run(endpointSessionMachine, endpointInput, [tokenReplied(200), { type: 'token.revoked', tokenIds: ['tok-1'] }]);
    expect(revoked.state).toBe('revoked');
    expect(revoked.actions.slice(-2)).toEqual(['releaseEndpoint', 'announceDisconnected']);
    const whileRoamed = run(endpointSessionMachine, endpointInput, [
      tokenReplied(200), { type: 'elce.connected', originatorReplicaId: 'r2' }, { type: 'token.revoked', tokenIds: ['tok-1'] },
    ]);
    expect(whileRoamed.state).toBe('revoked');
    expect(whileRoamed.actions).not.toContain('announceDisconnected');
  });

  it('a SUBSCRIBE naming the token identifies the endpoint as a PUBLISH does; its SUBACK waits for the outcome', () => {
    const subscribed: EndpointSessionEvent = { type: 'kp.subscribed', subscription: 'SUBACK' };
    const granted = run(endpointSessionMachine, endpointInput, [subscribed, tokenReplied(200)]);
    expect(granted.state).toBe('active');
    expect(granted.actions).toEqual([
      'requestIdentification', 'holdSubscription', 'claimEndpoint', 'announceConnected', 'forwardHeldMessages', 'grantHeldSubscriptions',
    ]);
    expect(run(endpointSessionMachine, endpointInput, [tokenReplied(200), subscribed]).actions.at(-1)).toBe('grantSubscription');
    const refused = run(endpointSessionMachine, endpointInput, [subscribed, tokenReplied(403), subscribed]);
    expect(refused.state).toBe('rejected');
    expect(refused.actions.slice(-3)).toEqual(['answerWithRejection', 'refuseHeldSubscriptions', 'refuseSubscription']);
    expect(run(endpointSessionMachine, endpointInput, [subscribed, tokenReplied(503)]).actions).toContain('refuseHeldSubscriptions');
    // Subscriptions and messages share one bound while the token is identified.
    expect(run(endpointSessionMachine, endpointInput, [published, subscribed, subscribed]).actions.at(-1)).toBe('refuseSubscription');
    // A roamed endpoint whose client subscribes again is taken back, as by a PUBLISH.
    const back = run(endpointSessionMachine, endpointInput, [tokenReplied(200), { type: 'elce.connected', originatorReplicaId: 'r2' }, subscribed]);
    expect(back.state).toBe('active');
    expect(back.actions.slice(-3)).toEqual(['claimEndpoint', 'announceConnected', 'grantSubscription']);
  });

  it('closes with its client session', () => {
    expect(run(endpointSessionMachine, endpointInput, [tokenReplied(200), { type: 'session.ended' }]).actions.at(-1)).toBe('releaseEndpoint');
    expect(run(endpointSessionMachine, endpointInput, [{ type: 'session.ended' }]).state).toBe('closed');
  });
});

describe('registry chart', () => {
  const input = { gracefulShutdownMs: 1000 };
  it('runs once NATS is connected and drains on shutdown', () => {
    expect(run(registryMachine, input, [{ type: 'nats.connected' }]).state).toBe('running');
    const draining = run(registryMachine, input, [{ type: 'nats.connected' }, { type: 'shutdown.requested', signal: 'SIGTERM' } as never]);
    expect(draining.state).toBe('draining');
    expect(draining.actions).toEqual(['announceReady', 'stopAccepting', 'endAllSessions']);
  });

  it('stops when draining is done or times out', () => {
    const events = [{ type: 'nats.connected' }, { type: 'shutdown.requested', signal: 'SIGTERM' }];
    expect(run(registryMachine, input, [...events, { type: 'xstate.done.actor.drainOutbound' }]).state).toBe('stopped');
    const late = run(registryMachine, input, [...events, { type: 'xstate.after.gracefulShutdown.registry.draining' }]);
    expect(late.state).toBe('stopped');
    expect(late.actions.at(-1)).toBe('reportShutdownTimeout');
  });

  it('survives failed session actors in any state, counting them', () => {
    const result = run(registryMachine, input, [
      { type: 'nats.connected' }, { type: 'session.failed', actorId: 'session.c1', error: new Error('boom') },
    ]);
    expect(result.state).toBe('running');
    expect(result.context).toMatchObject({ failedActors: 1 });
    expect(result.actions.at(-1)).toBe('discardFailedActor');
  });
});
