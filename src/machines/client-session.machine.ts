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
      /** False when NATS is down or the connection limit is reached: CONNACK 3. */
      serviceAvailable: boolean;
    }
  | {
      type: 'ecap.replied';
      kind: CredentialKind;
      statusCode: number;
      clientId: string | null;
      credentialId: string | null;
    }
  | { type: 'ecap.failed'; kind: CredentialKind; reason: string }
  | { type: 'credential.revoked'; credentialId: string }
  | { type: 'mqtt.disconnected'; at: number; reason: string }
  /** An operator disconnected the client through the management API. */
  | { type: 'admin.disconnected'; at: number }
  | { type: 'service.stopping' };

const INVALID_CREDENTIAL_CODES = new Set([400, 401, 403, 404]);

/** MQTT 3.1.1 CONNACK return codes KPC uses (MQTT 3.1.1 section 3.2.2.3). */
export const ConnackCode = { serverUnavailable: 3, badUserNameOrPassword: 4, notAuthorized: 5 } as const;

/** The transition that ends a CONNECT with a refusal: CONNACK `returnCode`, state `rejected`. */
const refuseWith = (returnCode: 3 | 4 | 5) =>
  ({ target: 'rejected', actions: { type: 'refuseConnection', params: { returnCode } } }) as const;

export const clientSessionMachine = setup({
  types: {
    input: {} as ClientSessionInput,
    context: {} as ClientSessionContext,
    events: {} as ClientSessionEvent,
  },
  actions: {
    requestAuthentication: () => {},
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
        credentialIds: event.credentialId === null ? context.credentialIds : [...context.credentialIds, event.credentialId],
      };
    }),
    recordConnectedAt: assign({ connectedAt: ({ event }) => (event.type === 'mqtt.connect' ? event.at : null) }),
    recordEndReason: assign({
      endReason: ({ event }) => (event.type === 'mqtt.disconnected' ? event.reason : event.type),
    }),
  },
  guards: {
    serviceUnavailable: ({ event }) => event.type === 'mqtt.connect' && !event.serviceAvailable,
    presentsUntrustedCertificate: ({ event }) => event.type === 'mqtt.connect' && event.certificate === 'untrusted',
    presentsCredentials: ({ event }) =>
      event.type === 'mqtt.connect' && (event.username !== null || event.passwordPresent || event.certificate === 'trusted'),
    anonymousAllowed: ({ event }) => event.type === 'mqtt.connect' && event.anonymousAllowed,
    credentialInvalid: ({ event }) => event.type === 'ecap.replied' && INVALID_CREDENTIAL_CODES.has(event.statusCode),
    /** Checked after credentialInvalid: any other non-200 answer (5xx …) means the provider failed. */
    providerErrored: ({ event }) => event.type === 'ecap.replied' && event.statusCode !== 200,
    /** A 200 without a credentialId: no revocation event could ever name (and end) such a session. */
    acceptedWithoutCredentialId: ({ event }) => event.type === 'ecap.replied' && event.statusCode === 200 && event.credentialId === null,
    lastCredentialAccepted: ({ context, event }) =>
      event.type === 'ecap.replied' && context.awaiting.length === 1 && context.awaiting[0] === event.kind,
    holdsRevokedCredential: ({ context, event }) =>
      event.type === 'credential.revoked' && context.credentialIds.includes(event.credentialId),
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
    connectedAt: null,
    endReason: null,
  }),
  initial: 'connecting',
  states: {
    connecting: {
      on: {
        'mqtt.connect': [
          { guard: 'serviceUnavailable', ...refuseWith(ConnackCode.serverUnavailable) },
          // A certificate that failed chain verification (client-auth optional) never reaches ECAP.
          { guard: 'presentsUntrustedCertificate', ...refuseWith(ConnackCode.badUserNameOrPassword) },
          {
            guard: 'presentsCredentials',
            target: 'authenticating',
            actions: ['recordConnectedAt', 'rememberCredentials', 'requestAuthentication'],
          },
          { guard: 'anonymousAllowed', target: 'active', actions: ['recordConnectedAt', 'acceptConnection'] },
          refuseWith(ConnackCode.notAuthorized),
        ],
        'mqtt.disconnected': { target: 'closed', actions: 'recordEndReason' },
      },
    },
    authenticating: {
      after: { authenticationTimeout: refuseWith(ConnackCode.serverUnavailable) },
      on: {
        'ecap.replied': [
          { guard: 'credentialInvalid', ...refuseWith(ConnackCode.badUserNameOrPassword) },
          { guard: 'providerErrored', ...refuseWith(ConnackCode.serverUnavailable) },
          {
            guard: 'acceptedWithoutCredentialId',
            target: 'rejected',
            actions: [
              { type: 'reportProviderFault', params: { problem: 'answered 200 without a credentialId' } },
              { type: 'refuseConnection', params: { returnCode: ConnackCode.serverUnavailable } },
            ],
          },
          { guard: 'lastCredentialAccepted', target: 'active', actions: ['recordValidCredential', 'acceptConnection'] },
          { actions: 'recordValidCredential' },
        ],
        'ecap.failed': refuseWith(ConnackCode.serverUnavailable),
        'mqtt.disconnected': { target: 'closed', actions: 'recordEndReason' },
        'service.stopping': refuseWith(ConnackCode.serverUnavailable),
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
