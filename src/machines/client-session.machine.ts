// One MQTT connection, from CONNECT (authentication through 16/ECAP, CONNACK) to its end (client
// disconnect, credential revocation, operator, shutdown).
// Pure: actions are named here and implemented by src/actors/session/client-session.ts.
import { assign, setup } from 'xstate';

export type Transport = 'tcp' | 'tls' | 'ws';
export type CredentialKind = 'username-password' | 'certificate';

export interface ClientSessionInput {
  connectionId: string;
  mqttClientId: string;
  transport: Transport;
  authenticationTimeoutMs: number;
}

export interface ClientSessionContext extends ClientSessionInput {
  username: string | null;
  /** Credentials presented in CONNECT that ECAP has not confirmed yet. */
  awaiting: CredentialKind[];
  clientId: string | null;
  credentialIds: string[];
  /** The tenant owning the credentials (22/CAP); null with 16/ECAP or anonymous. */
  tenantId: string | null;
  connectedAt: number | null;
  endReason: string | null;
}

export type ClientSessionEvent =
  | {
      type: 'mqtt.connect';
      at: number;
      username: string | null;
      passwordPresent: boolean;
      /** A TLS client certificate: none, verified against the CA, or one that failed verification. */
      certificate: 'none' | 'trusted' | 'untrusted';
      anonymousAllowed: boolean;
      /** False when NATS is down, the connection limit is reached or the service is stopping: CONNACK 3. */
      serviceAvailable: boolean;
      /** Whether a credential validation slot of this transport is free (`max-in-flight`); taken on entering `authenticating`. */
      authenticationSlotFree: boolean;
    }
  /** The credential provider's answer: 16/ECAP or 22/CAP, whichever `client-protocol` names. */
  | {
      type: 'ecap.replied';
      kind: CredentialKind;
      statusCode: number;
      clientId: string | null;
      credentialId: string | null;
      tenantId: string | null;
    }
  | { type: 'ecap.failed'; kind: CredentialKind; reason: string }
  /** 16/ECAP names no tenant (null); 22/CAP revokes credentials within a tenant. */
  | { type: 'credential.revoked'; credentialId: string; tenantId: string | null }
  | { type: 'mqtt.disconnected'; at: number; reason: string }
  /** An operator disconnected the client through the management API. */
  | { type: 'admin.disconnected'; at: number }
  | { type: 'service.stopping' };

const INVALID_CREDENTIAL_CODES = new Set([400, 401, 403, 404]);

/**
 * The refusal policy: which credential service answers mean "these credentials are wrong"
 * (CONNACK 4), as opposed to "the service failed" (CONNACK 3, ask again next time). The
 * authentication gate remembers exactly these refusals, so a cached answer is one this chart refuses.
 */
export function isCredentialRefusal(statusCode: number): boolean {
  return INVALID_CREDENTIAL_CODES.has(statusCode);
}

/** MQTT 3.1.1 CONNACK return codes KPC uses (MQTT 3.1.1 section 3.2.2.3). */
export const ConnackCode = { serverUnavailable: 3, badUserNameOrPassword: 4, notAuthorized: 5 } as const;

/** Why a CONNECT was refused, as the session's `endReason` records it. */
export type RefusalReason =
  | 'service unavailable'
  | 'too many authentications in flight'
  | 'untrusted certificate'
  | 'no credentials'
  | 'credentials refused'
  | 'credential service failed'
  | 'credential service accepted without a credentialId'
  | 'authentication timed out'
  | 'service stopping';

/** The transition that ends a CONNECT with a refusal: CONNACK `returnCode`, state `rejected`, the reason recorded. */
const refuseWith = (returnCode: 3 | 4 | 5, reason: RefusalReason) =>
  ({ target: 'rejected', actions: [{ type: 'recordRefusal', params: { reason } }, { type: 'refuseConnection', params: { returnCode } }] }) as const;

type ConnectEvent = Extract<ClientSessionEvent, { type: 'mqtt.connect' }>;

/** A username, a password or a verified certificate: something the credential service must validate. */
const presentsCredentials = (event: ConnectEvent): boolean =>
  event.username !== null || event.passwordPresent || event.certificate === 'trusted';

export const clientSessionMachine = setup({
  types: {
    input: {} as ClientSessionInput,
    context: {} as ClientSessionContext,
    events: {} as ClientSessionEvent,
  },
  actions: {
    requestAuthentication: () => {},
    takeAuthenticationSlot: () => {},
    releaseAuthenticationSlot: () => {},
    acceptConnection: () => {},
    refuseConnection: (_, _params: { returnCode: 3 | 4 | 5 }) => {},
    closeConnection: () => {},
    endEndpointSessions: () => {},
    /** The provider broke 16/ECAP: logged as its fault, naming it. */
    reportProviderFault: (_, _params: { problem: string }) => {},
    rememberCredentials: assign(({ event }) => {
      if (event.type !== 'mqtt.connect') return {};
      const awaiting: CredentialKind[] = [];
      if (event.certificate === 'trusted') awaiting.push('certificate');
      if (event.username !== null || event.passwordPresent) awaiting.push('username-password');
      return { username: event.username, awaiting };
    }),
    recordValidCredential: assign(({ context, event }) => {
      if (event.type !== 'ecap.replied') return {};
      return {
        awaiting: context.awaiting.filter((kind) => kind !== event.kind),
        clientId: event.clientId ?? context.clientId,
        tenantId: event.tenantId ?? context.tenantId,
        credentialIds: event.credentialId === null ? context.credentialIds : [...context.credentialIds, event.credentialId],
      };
    }),
    recordConnectedAt: assign({ connectedAt: ({ event }) => (event.type === 'mqtt.connect' ? event.at : null) }),
    recordRefusal: assign((_, params: { reason: RefusalReason }) => ({ endReason: params.reason })),
    recordEndReason: assign({
      endReason: ({ event }) => (event.type === 'mqtt.disconnected' ? event.reason : event.type),
    }),
  },
  guards: {
    serviceUnavailable: ({ event }) => event.type === 'mqtt.connect' && !event.serviceAvailable,
    presentsUntrustedCertificate: ({ event }) => event.type === 'mqtt.connect' && event.certificate === 'untrusted',
    presentsCredentials: ({ event }) => event.type === 'mqtt.connect' && presentsCredentials(event),
    /** Credentials to validate, but every validation slot of this transport is taken. */
    noAuthenticationSlotFree: ({ event }) => event.type === 'mqtt.connect' && presentsCredentials(event) && !event.authenticationSlotFree,
    anonymousAllowed: ({ event }) => event.type === 'mqtt.connect' && event.anonymousAllowed,
    credentialInvalid: ({ event }) => event.type === 'ecap.replied' && isCredentialRefusal(event.statusCode),
    /** Checked after credentialInvalid: any other non-200 answer (5xx …) means the provider failed. */
    providerErrored: ({ event }) => event.type === 'ecap.replied' && event.statusCode !== 200,
    /** A 200 without a credentialId: no revocation event could ever name (and end) such a session. */
    acceptedWithoutCredentialId: ({ event }) => event.type === 'ecap.replied' && event.statusCode === 200 && event.credentialId === null,
    lastCredentialAccepted: ({ context, event }) =>
      event.type === 'ecap.replied' && context.awaiting.length === 1 && context.awaiting[0] === event.kind,
    holdsRevokedCredential: ({ context, event }) =>
      event.type === 'credential.revoked' && context.credentialIds.includes(event.credentialId) &&
      (event.tenantId === null || event.tenantId === context.tenantId),
  },
  delays: {
    authenticationTimeout: ({ context }) => context.authenticationTimeoutMs,
  },
}).createMachine({
  id: 'clientSession',
  context: ({ input }) => ({
    ...input,
    username: null,
    awaiting: [],
    clientId: null,
    credentialIds: [],
    tenantId: null,
    connectedAt: null,
    endReason: null,
  }),
  initial: 'connecting',
  states: {
    connecting: {
      on: {
        'mqtt.connect': [
          { guard: 'serviceUnavailable', ...refuseWith(ConnackCode.serverUnavailable, 'service unavailable') },
          // A certificate that failed chain verification (client-auth optional) never reaches ECAP.
          { guard: 'presentsUntrustedCertificate', ...refuseWith(ConnackCode.badUserNameOrPassword, 'untrusted certificate') },
          // Every validation slot of this transport is taken (`max-in-flight`): refused at once, so
          // an authentication flood builds no queue.
          { guard: 'noAuthenticationSlotFree', ...refuseWith(ConnackCode.serverUnavailable, 'too many authentications in flight') },
          {
            guard: 'presentsCredentials',
            target: 'authenticating',
            actions: ['recordConnectedAt', 'rememberCredentials', 'takeAuthenticationSlot', 'requestAuthentication'],
          },
          { guard: 'anonymousAllowed', target: 'active', actions: ['recordConnectedAt', 'acceptConnection'] },
          refuseWith(ConnackCode.notAuthorized, 'no credentials'),
        ],
        'mqtt.disconnected': { target: 'closed', actions: 'recordEndReason' },
      },
    },
    authenticating: {
      // However authentication ends (answer, timeout, disconnect, shutdown), its slot is free again.
      exit: 'releaseAuthenticationSlot',
      after: { authenticationTimeout: refuseWith(ConnackCode.serverUnavailable, 'authentication timed out') },
      on: {
        'ecap.replied': [
          { guard: 'credentialInvalid', ...refuseWith(ConnackCode.badUserNameOrPassword, 'credentials refused') },
          { guard: 'providerErrored', ...refuseWith(ConnackCode.serverUnavailable, 'credential service failed') },
          {
            guard: 'acceptedWithoutCredentialId',
            target: 'rejected',
            actions: [
              { type: 'reportProviderFault', params: { problem: 'answered 200 without a credentialId' } },
              ...refuseWith(ConnackCode.serverUnavailable, 'credential service accepted without a credentialId').actions,
            ],
          },
          { guard: 'lastCredentialAccepted', target: 'active', actions: ['recordValidCredential', 'acceptConnection'] },
          { actions: 'recordValidCredential' },
        ],
        'ecap.failed': refuseWith(ConnackCode.serverUnavailable, 'credential service failed'),
        'mqtt.disconnected': { target: 'closed', actions: 'recordEndReason' },
        'service.stopping': refuseWith(ConnackCode.serverUnavailable, 'service stopping'),
      },
    },
    active: {
      on: {
        'credential.revoked': { guard: 'holdsRevokedCredential', target: 'revoked' },
        'mqtt.disconnected': { target: 'closed', actions: 'recordEndReason' },
        'admin.disconnected': { target: 'closed', actions: ['recordEndReason', 'closeConnection'] },
        'service.stopping': { target: 'closed', actions: ['recordEndReason', 'closeConnection'] },
      },
    },
    rejected: { type: 'final' },
    revoked: {
      type: 'final',
      entry: ['recordEndReason', 'closeConnection', 'endEndpointSessions'],
    },
    closed: {
      type: 'final',
      entry: 'endEndpointSessions',
    },
  },
});
