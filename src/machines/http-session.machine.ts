// One endpoint token used over 1/KP over HTTP. HTTP keeps no connection, so this session stands in
// for one: created by the first request with the token, it keeps the endpoint session (and so the
// identification) between requests, and ends when no request came for `idleTimeoutMs`, when its
// endpoint session ends by itself (token revoked, rejection forgotten, credential service
// unavailable), or when the service stops.
// Pure: actions are named here and implemented by src/actors/session/http-session.ts.
import { assign, setup } from 'xstate';

export interface HttpSessionInput {
  sessionId: string;
  appVersionName: string;
  /** The token's short hash: the machine never holds the token itself (journals are exposed). */
  tokenHash: string;
  idleTimeoutMs: number;
}

export interface HttpSessionContext extends HttpSessionInput {
  /** Requests received and not answered yet; the session is born with the one that created it. */
  inFlight: number;
  endReason: string | null;
}

export type HttpSessionEvent =
  /** Another request with this token arrived. */
  | { type: 'http.requested' }
  /** One of its requests got its answer (the extension's, KPC's own error, or a timeout). */
  | { type: 'http.answered' }
  /** Its endpoint session finished on its own (revoked, expired, unavailable). */
  | { type: 'endpoint.finished' }
  | { type: 'service.stopping' };

/** How a session ends whatever it is doing (drawn from each state: the charts show no root-level arrows). */
const endings = {
  'endpoint.finished': { target: 'ended', actions: { type: 'recordEnd', params: { reason: 'endpoint session ended' } } },
  'service.stopping': {
    target: 'ended',
    actions: [{ type: 'recordEnd', params: { reason: 'service stopping' } }, 'endEndpointSession'],
  },
} as const;

export const httpSessionMachine = setup({
  types: {
    input: {} as HttpSessionInput,
    context: {} as HttpSessionContext,
    events: {} as HttpSessionEvent,
  },
  actions: {
    /** Ends the endpoint session; 9/ELCE `disconnected` when it held the endpoint. */
    endEndpointSession: () => {},
    countRequest: assign({ inFlight: ({ context }) => context.inFlight + 1 }),
    countAnswer: assign({ inFlight: ({ context }) => context.inFlight - 1 }),
    recordEnd: assign((_, params: { reason: string }) => ({ endReason: params.reason })),
  },
  guards: {
    lastRequestAnswered: ({ context }) => context.inFlight === 1,
  },
  delays: {
    idleTimeout: ({ context }) => context.idleTimeoutMs,
  },
}).createMachine({
  id: 'httpSession',
  context: ({ input }) => ({ ...input, inFlight: 1, endReason: null }),
  initial: 'busy',
  states: {
    /** Requests are waiting for answers: never idle, whatever the time (each request has its own timeout). */
    busy: {
      on: {
        ...endings,
        'http.requested': { actions: 'countRequest' },
        'http.answered': [
          { guard: 'lastRequestAnswered', target: 'idle', actions: 'countAnswer' },
          { actions: 'countAnswer' },
        ],
      },
    },
    idle: {
      after: {
        idleTimeout: {
          target: 'ended',
          actions: [{ type: 'recordEnd', params: { reason: 'idle timeout' } }, 'endEndpointSession'],
        },
      },
      on: { ...endings, 'http.requested': { target: 'busy', actions: 'countRequest' } },
    },
    ended: { type: 'final' },
  },
});
