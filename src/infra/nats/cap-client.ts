// 22/CAP consumer (Kaa 1.2+): client authentication by the Client Credentials Management service.
// The client authenticator when `kaa.kpc.authentication.client-protocol` is `cap`; endpoint tokens
// stay with 16/ECAP.
//
// Credentials are scoped by tenant. A username `name@tenant` names its tenant (split at the LAST
// `@`, so a name may itself contain `@`) and CAP is asked about `name` in `tenant`; a username
// without `@` belongs to `default-tenant-id`, and without that setting it is refused (401, CONNACK 4)
// without asking anyone: there is no tenant to ask about.
import type { Logger } from 'pino';
import type { ClientAuthenticator, ClientCredentialVerdict, ValidationOutcome } from '../../actors/ports.js';
import { codecs, type CapResponse } from './codecs.js';
import type { NatsLink } from './connection.js';
import { CorrelatedRequests, type ProviderMetrics } from './correlated-requests.js';
import type { UndecodableMessages } from './undecodable-messages.js';
import { subjects, type CapResponseType } from './subjects.js';

export interface CapClientOptions {
  replicaId: string;
  /** `kaa.kpc.authentication.client-service-instance-name` */
  providerInstance: string;
  timeoutMs: number;
  /** `kaa.kpc.authentication.default-tenant-id`: the tenant of a username without `@`. */
  defaultTenantId: string | undefined;
}

export class CapClient implements ClientAuthenticator {
  private readonly requests: CorrelatedRequests<CapResponseType>;

  constructor(
    nats: NatsLink,
    private readonly options: CapClientOptions,
    logger: Logger,
    metrics: ProviderMetrics,
    undecodable: UndecodableMessages,
  ) {
    this.requests = new CorrelatedRequests<CapResponseType>(
      nats,
      { 'basic-response': codecs.capBasicResponse, 'certificate-response': codecs.capCertificateResponse },
      (type) => subjects.capResponse(options.replicaId, type),
      options.timeoutMs,
      logger,
      metrics,
      undecodable,
      'CAP',
    );
  }

  /** The 22/CAP provider's service instance name, for log lines about its answers. */
  get provider(): string {
    return this.options.providerInstance;
  }

  start(): void {
    this.requests.start(subjects.capResponses(this.options.replicaId));
  }

  stop(): void {
    this.requests.stop();
  }

  async validateUsernamePassword(username: string | null, password: string | null): Promise<ValidationOutcome<ClientCredentialVerdict>> {
    const scoped = username === null ? null : splitTenant(username, this.options.defaultTenantId);
    if (scoped === null) return refused('No tenant: use a username of the form name@tenant');
    const { name, tenantId } = scoped;
    const outcome = await this.requests.request<CapResponse>('basic-response', subjects.capBasicRequest(this.options.providerInstance),
      (correlationId) => codecs.capBasicRequest.encode({ ...this.requests.envelope(correlationId), tenantId, username: name, password: password ?? '' }));
    return verdictOf(outcome, tenantId);
  }

  async validateCertificate(issuer: string, serialNumber: string): Promise<ValidationOutcome<ClientCredentialVerdict>> {
    const outcome = await this.requests.request<CapResponse>('certificate-response', subjects.capCertificateRequest(this.options.providerInstance),
      (correlationId) => codecs.capCertificateRequest.encode({ ...this.requests.envelope(correlationId), issuer, serialNumber }));
    return verdictOf(outcome, null);
  }
}

/** `name@tenant` → both parts (split at the last `@`); no `@` → the default tenant, or null without one. */
export function splitTenant(username: string, defaultTenantId: string | undefined): { name: string; tenantId: string } | null {
  const at = username.lastIndexOf('@');
  if (at === -1) return defaultTenantId === undefined ? null : { name: username, tenantId: defaultTenantId };
  const name = username.slice(0, at);
  const tenantId = username.slice(at + 1);
  return name === '' || tenantId === '' ? null : { name, tenantId };
}

/** A basic response names no tenant: it is the one asked about. A certificate response names it. */
function verdictOf(outcome: ValidationOutcome<CapResponse>, askedTenant: string | null): ValidationOutcome<ClientCredentialVerdict> {
  if (!outcome.ok) return outcome;
  const { statusCode, reasonPhrase, clientId, credentialsId, tenantId } = outcome.reply;
  return { ok: true, reply: { statusCode, reasonPhrase, clientId, credentialId: credentialsId, tenantId: tenantId ?? askedTenant } };
}

function refused(reasonPhrase: string): ValidationOutcome<ClientCredentialVerdict> {
  return { ok: true, reply: { statusCode: 401, reasonPhrase, clientId: null, credentialId: null, tenantId: null } };
}
