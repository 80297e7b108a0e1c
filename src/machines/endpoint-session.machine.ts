// One endpoint token used by one client session: identified through 16/ECAP, announced with 9/ELCE,
// ended by token revocation or roaming. Pure: actions are named here
// and implemented by src/actors/session/endpoint-session.ts. Every PUBLISH for the token is a
// `kp.published` event, in every state: what this chart draws for it is what happens to it.
//
// A SUBSCRIBE whose filter names the token identifies the endpoint exactly as a PUBLISH does (Kaa's
// command clients subscribe and wait, publishing nothing): its SUBACK waits for the outcome like
// a held message, and is granted once the endpoint is identified, or refused (0x80) when not.
//
// Roaming: an endpoint's pushes go to exactly one session. Whenever another session announces the
// endpoint connected — a client session on another replica (9/ELCE), or another client session on
// this one — every other session identified as that endpoint receives `elce.connected`, and an
// active one becomes `roamed` here.
import { assign, setup } from 'xstate';

export interface EndpointSessionInput {
  sessionId: string;
  appName: string;
  appVersionName: string;
  /** The token's short hash: the machine never holds the token itself (journals are exposed). */
  tokenHash: string;
  identificationTimeoutMs: number;
  negativeCacheMs: number;
  maxHeldMessages: number;
}

export interface EndpointSessionContext extends EndpointSessionInput {
  endpointId: string | null;
  tokenId: string | null;
  /** Messages and SUBSCRIBE filters waiting for identification (one bound for both). */
  heldMessages: number;
  rejection: { statusCode: number; reasonPhrase: string } | null;
}

export type EndpointSessionEvent =
  /** A PUBLISH for this token. `message` is opaque to the machine (and left out of journals). */
  | { type: 'kp.published'; message?: unknown }
  /** A SUBSCRIBE filter naming this token. `subscription` (its SUBACK) is opaque to the machine (and left out of journals). */
  | { type: 'kp.subscribed'; subscription?: unknown }
  | { type: 'ecap.replied'; statusCode: number; endpointId: string | null; tokenId: string | null; reasonPhrase: string | null }
  | { type: 'ecap.failed'; reason: string }
  /** Another session (on another replica, or another client session here) announced this endpoint connected. */
  | { type: 'elce.connected'; originatorReplicaId: string }
  | { type: 'token.revoked'; tokenIds: string[] }
  | { type: 'session.ended' };

export const endpointSessionMachine = setup({
  types: {
    input: {} as EndpointSessionInput,
    context: {} as EndpointSessionContext,
    events: {} as EndpointSessionEvent,
  },
  actions: {
    requestIdentification: () => {},
    holdMessage: () => {},
    holdSubscription: () => {},
    forwardHeldMessages: () => {},
    grantHeldSubscriptions: () => {},
    grantSubscription: () => {},
    /** SUBACK 0x80 for the current filter, or for every held one. */
    refuseSubscription: () => {},
    refuseHeldSubscriptions: () => {},
    forwardMessage: () => {},
    /** Answers the current message with a 1/KP error instead of holding it. */
    refuseMessage: (_, _params: { statusCode: number; reasonPhrase: string }) => {},
    answerWithRejection: () => {},
    answerUnavailable: () => {},
    claimEndpoint: () => {},
    releaseEndpoint: () => {},
    announceConnected: () => {},
    announceDisconnected: () => {},
    countRoaming: () => {},
    countHeldMessage: assign({ heldMessages: ({ context }) => context.heldMessages + 1 }),
    clearHeldMessages: assign({ heldMessages: 0 }),
    recordIdentity: assign(({ event }) =>
      event.type === 'ecap.replied' ? { endpointId: event.endpointId, tokenId: event.tokenId } : {},
    ),
    recordRejection: assign(({ event }) =>
      event.type === 'ecap.replied'
        ? { rejection: { statusCode: event.statusCode, reasonPhrase: event.reasonPhrase ?? 'Endpoint token rejected' } }
        : {},
    ),
  },
  guards: {
    holdingTooMany: ({ context }) => context.heldMessages >= context.maxHeldMessages,
    tokenAccepted: ({ event }) => event.type === 'ecap.replied' && event.statusCode === 200 && event.endpointId !== null,
    /** A 5xx, or a 200 without an endpoint id: nothing to cache, ask again next time. */
    unusableReply: ({ event }) => event.type === 'ecap.replied' && (event.statusCode >= 500 || event.statusCode === 200),
    usesRevokedToken: ({ context, event }) =>
      event.type === 'token.revoked' && context.tokenId !== null && event.tokenIds.includes(context.tokenId),
  },
  delays: {
    identificationTimeout: ({ context }) => context.identificationTimeoutMs,
    negativeCache: ({ context }) => context.negativeCacheMs,
  },
}).createMachine({
  id: 'endpointSession',
  context: ({ input }) => ({ ...input, endpointId: null, tokenId: null, heldMessages: 0, rejection: null }),
  initial: 'identifying',
  states: {
    identifying: {
      entry: 'requestIdentification',
      after: { identificationTimeout: 'unavailable' },
      on: {
        'kp.published': [
          {
            guard: 'holdingTooMany',
            actions: { type: 'refuseMessage', params: { statusCode: 503, reasonPhrase: 'Too many messages waiting for endpoint identification' } },
          },
          { actions: ['holdMessage', 'countHeldMessage'] },
        ],
        'kp.subscribed': [
          { guard: 'holdingTooMany', actions: 'refuseSubscription' },
          { actions: ['holdSubscription', 'countHeldMessage'] },
        ],
        'ecap.replied': [
          {
            guard: 'tokenAccepted',
            target: 'active',
            actions: ['recordIdentity', 'claimEndpoint', 'announceConnected', 'forwardHeldMessages', 'grantHeldSubscriptions', 'clearHeldMessages'],
          },
          { guard: 'unusableReply', target: 'unavailable' },
          { target: 'rejected', actions: ['recordRejection', 'answerWithRejection', 'refuseHeldSubscriptions', 'clearHeldMessages'] },
        ],
        'ecap.failed': 'unavailable',
        'session.ended': 'closed',
      },
    },
    active: {
      on: {
        'kp.published': { actions: 'forwardMessage' },
        'kp.subscribed': { actions: 'grantSubscription' },
        'elce.connected': { target: 'roamed', actions: ['releaseEndpoint', 'countRoaming'] },
        'token.revoked': {
          guard: 'usesRevokedToken',
          target: 'revoked',
          actions: ['releaseEndpoint', 'announceDisconnected'],
        },
        'session.ended': { target: 'closed', actions: 'releaseEndpoint' },
      },
    },
    roamed: {
      on: {
        'kp.published': { target: 'active', actions: ['claimEndpoint', 'announceConnected', 'forwardMessage'] },
        'kp.subscribed': { target: 'active', actions: ['claimEndpoint', 'announceConnected', 'grantSubscription'] },
        'token.revoked': { guard: 'usesRevokedToken', target: 'revoked' },
        'session.ended': 'closed',
      },
    },
    rejected: {
      after: { negativeCache: 'expired' },
      on: {
        'kp.published': { actions: 'answerWithRejection' },
        'kp.subscribed': { actions: 'refuseSubscription' },
        'session.ended': 'closed',
      },
    },
    /** ECAP did not answer usefully: held messages get 503 and the next message asks again. */
    unavailable: { type: 'final', entry: ['answerUnavailable', 'refuseHeldSubscriptions', 'clearHeldMessages'] },
    /** The token was revoked: the next message with it is validated again, in a new session. */
    revoked: { type: 'final' },
    expired: { type: 'final' },
    closed: { type: 'final' },
  },
});
