// 16/ECAP consumer: sends validation requests to the credential provider (Kaa's Credential
// Management) with this replica's reply subjects (3/ISM session affinity). It is the endpoint token
// validator always, and the client authenticator when `client-protocol` is `ecap`.
import type { Logger } from 'pino';
import type {
  ClientAuthenticator, ClientCredentialVerdict, ValidationOutcome, TokenValidator, TokenVerdict,
} from '../../actors/ports.js';
import { codecs, type ClientCredentialResponse } from './codecs.js';
import type { NatsLink } from './connection.js';
import { CorrelatedRequests, type ProviderMetrics } from './correlated-requests.js';
import type { UndecodableMessages } from './undecodable-messages.js';
import { subjects, type EcapResponseType } from './subjects.js';

export class EcapClient implements ClientAuthenticator, TokenValidator {
  private readonly requests: CorrelatedRequests<EcapResponseType>;

  constructor(
    nats: NatsLink,
    private readonly options: { replicaId: string; providerInstance: string; timeoutMs: number },
    logger: Logger,
    metrics: ProviderMetrics,
    undecodable: UndecodableMessages,
  ) {
    this.requests = new CorrelatedRequests<EcapResponseType>(
      nats,
      {
        'client-username-password-response': codecs.usernamePasswordResponse,
        'client-certificate-response': codecs.certificateResponse,
        'ep-token-response': codecs.tokenResponse,
      },
      (type) => subjects.ecapResponse(options.replicaId, type),
      options.timeoutMs,
      logger,
      metrics,
      undecodable,
      'ECAP',
    );
  }

  /** The 16/ECAP provider's service instance name, for log lines about its answers. */
  get provider(): string {
    return this.options.providerInstance;
  }

  start(): void {
    this.requests.start(subjects.ecapResponses(this.options.replicaId));
  }

  stop(): void {
    this.requests.stop();
  }

  async validateUsernamePassword(username: string | null, password: string | null): Promise<ValidationOutcome<ClientCredentialVerdict>> {
    return verdictOf(await this.requests.request<ClientCredentialResponse>(
      'client-username-password-response', subjects.usernamePasswordRequest(this.options.providerInstance),
      (correlationId) => codecs.usernamePasswordRequest.encode({ ...this.requests.envelope(correlationId), username, password }),
    ));
  }

  async validateCertificate(issuer: string, serialNumber: string): Promise<ValidationOutcome<ClientCredentialVerdict>> {
    return verdictOf(await this.requests.request<ClientCredentialResponse>(
      'client-certificate-response', subjects.certificateRequest(this.options.providerInstance),
      (correlationId) => codecs.certificateRequest.encode({ ...this.requests.envelope(correlationId), issuer, serialNumber }),
    ));
  }

  validateToken(appName: string, token: string): Promise<ValidationOutcome<TokenVerdict>> {
    return this.requests.request('ep-token-response', subjects.tokenRequest(this.options.providerInstance),
      (correlationId) => codecs.tokenRequest.encode({ ...this.requests.envelope(correlationId), appName, token }));
  }
}

/** 16/ECAP names no tenant. */
function verdictOf(outcome: ValidationOutcome<ClientCredentialResponse>): ValidationOutcome<ClientCredentialVerdict> {
  if (!outcome.ok) return outcome;
  const { statusCode, reasonPhrase, clientId, credentialId } = outcome.reply;
  return { ok: true, reply: { statusCode, reasonPhrase, clientId, credentialId, tenantId: null } };
}
