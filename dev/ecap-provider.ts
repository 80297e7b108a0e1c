// DEVELOPMENT ONLY. A stand-in 16/ECAP provider that validates MQTT client credentials and
// endpoint tokens from an in-memory table (usually loaded from dev/credentials.yml). In production
// Kaa's Credential Management (CM) service plays this role; KPC cannot tell the two apart. It also
// answers 22/CAP client authentication, as Kaa 1.2+'s Client Credentials Management (CCM) does,
// from the same table: every user and certificate belongs to a tenant (`tenantId`, default `default`).
// Besides answering, it can misbehave on purpose (`mode`, `delayMs`) so tests and the benchmark can
// exercise KPC's timeouts and error handling, and it counts and logs what it was asked.
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Msg, NatsConnection, Subscription } from 'nats';
import {
  codecs,
  type CertificateRequest,
  type ClientCredentialResponse,
  type Codec,
  type TokenRequest,
  type TokenResponse,
  type UsernamePasswordRequest,
} from '../src/infra/nats/codecs.js';
import { subjects } from '../src/infra/nats/subjects.js';
import { connectToNats } from './nats-connection.js';
import { consoleDevLogger, warn, type DevLogger } from './dev-logger.js';
import type { DevCredentials } from './dev-credentials.js';

export { parseDevCredentials, type DevCredentials } from './dev-credentials.js';

/**
 * normal: answer from the table; silent: never answer; garbage: answer with bytes that are not
 * Avro; unavailable: answer every request with status 503.
 */
export type EcapMode = 'normal' | 'silent' | 'garbage' | 'unavailable';

export type EcapRequestType = 'username-password' | 'certificate' | 'token' | 'cap-basic' | 'cap-certificate';

/** One received request, as recorded in `requestLog`. Passwords are never recorded. */
export interface EcapRequestLogEntry {
  type: EcapRequestType;
  subject: string;
  reply?: string;
  username?: string | null;
  token?: string;
  appName?: string;
  issuer?: string;
  serialNumber?: string;
  tenantId?: string;
}

export interface DevEcapProviderOptions {
  natsUrls: string | string[];
  /** The ECAP service instance name KPC addresses (`kaa.kpc.authentication.service-instance-name`). */
  serviceInstanceName?: string;
  /** The 22/CAP service instance name KPC addresses (`kaa.kpc.authentication.client-service-instance-name`). */
  capServiceInstanceName?: string;
  /** Kept by reference: changes made to it later take effect on the next request. */
  credentials: DevCredentials;
  logger?: DevLogger;
}

/** Bytes that no ECAP response schema decodes (checked by the unit tests). */
const GARBAGE = Buffer.from('this is not an Avro record \u0000\u00ff');

/** The tenant of users and certificates that name none (22/CAP). */
export const DEFAULT_DEV_TENANT = 'default';

/** The application the revocation event names when the caller gives none: the dev and test config's. */
const DEFAULT_APP_NAME = 'demo_application';

type CredentialVerdict = Pick<ClientCredentialResponse, 'statusCode' | 'reasonPhrase' | 'clientId' | 'credentialId'>;
type TokenVerdict = Pick<TokenResponse, 'statusCode' | 'reasonPhrase' | 'tokenId' | 'endpointId'>;

const unavailable = { statusCode: 503, reasonPhrase: 'Service Unavailable (dev provider mode "unavailable")' };

export class DevEcapProvider {
  mode: EcapMode = 'normal';
  /** Added before every answer, whatever the mode. */
  delayMs = 0;
  readonly tokenRequestCounts = new Map<string, number>();
  readonly requestLog: EcapRequestLogEntry[] = [];
  /** `originatorReplicaId` of the revocation events this provider publishes. */
  readonly replicaId = `dev-ecap-${randomBytes(4).toString('hex')}`;

  private readonly natsUrls: string | string[];
  private readonly serviceInstanceName: string;
  private readonly capServiceInstanceName: string;
  private readonly credentials: DevCredentials;
  private readonly logger: DevLogger;
  private connection?: NatsConnection;

  constructor(opts: DevEcapProviderOptions) {
    this.natsUrls = opts.natsUrls;
    this.serviceInstanceName = opts.serviceInstanceName ?? 'cm';
    this.capServiceInstanceName = opts.capServiceInstanceName ?? 'ccm';
    this.credentials = opts.credentials;
    this.logger = opts.logger ?? consoleDevLogger;
  }

  /** Connects and subscribes; resolves once the server has the subscriptions. */
  async start(): Promise<void> {
    if (this.connection) return;
    const connection = await connectToNats(this.natsUrls, `dev-ecap-provider(${this.serviceInstanceName})`);
    this.connection = connection;
    const cm = this.serviceInstanceName;
    const listen = (subject: string, handle: (msg: Msg) => void): Subscription =>
      connection.subscribe(subject, {
        queue: 'dev-ecap',
        callback: (error, msg) => {
          if (error) warn(this.logger, `ECAP subscription ${subject} failed:`, error.message);
          else handle(msg);
        },
      });
    listen(subjects.usernamePasswordRequest(cm), (msg) => this.onUsernamePassword(msg));
    listen(subjects.certificateRequest(cm), (msg) => this.onCertificate(msg));
    listen(subjects.tokenRequest(cm), (msg) => this.onToken(msg));
    listen(subjects.capBasicRequest(this.capServiceInstanceName), (msg) => this.onCapBasic(msg));
    listen(subjects.capCertificateRequest(this.capServiceInstanceName), (msg) => this.onCapCertificate(msg));
    await connection.flush();
    this.logger.info(
      `dev ECAP provider "${cm}" (and 22/CAP "${this.capServiceInstanceName}") ready: ${Object.keys(this.credentials.users).length} user(s), ` +
        `${Object.keys(this.credentials.tokens).length} token(s)`,
    );
  }

  /** Drains the connection: requests already received are still answered if the delay allows. */
  async stop(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    if (connection && !connection.isClosed()) await connection.drain();
  }

  /**
   * Invalidates the credential (users and certificates holding it are removed from the table, so
   * a new connection is refused) and broadcasts ClientCredentialRevokedEvent.
   */
  async revokeCredential(credentialId: string): Promise<void> {
    this.forgetCredential(credentialId);
    await this.publish(
      eventSubject(subjects.credentialRevoked, this.serviceInstanceName),
      codecs.credentialRevoked.encode({ ...envelope(randomUUID()), credentialId, originatorReplicaId: this.replicaId }),
    );
    this.logger.info(`revoked credential ${credentialId}`);
  }

  /**
   * 22/CAP: invalidates the credentials like revokeCredential, then broadcasts
   * ClientCredentialsRevokedEvent on `kaa.v1.events.{ccm}.client-credentials.{kind}.revoked`.
   */
  async revokeClientCredentials(tenantId: string, credentialsId: string, kind: 'basic' | 'certificate' = 'basic'): Promise<void> {
    this.forgetCredential(credentialsId, tenantId);
    const pattern = kind === 'basic' ? subjects.capBasicRevoked : subjects.capCertificateRevoked;
    await this.publish(
      eventSubject(pattern, this.capServiceInstanceName),
      codecs.capCredentialsRevoked.encode({ ...envelope(randomUUID()), tenantId, credentialsId, originatorReplicaId: this.replicaId }),
    );
    this.logger.info(`revoked client credentials ${credentialsId} of tenant ${tenantId} (22/CAP)`);
  }

  /**
   * Marks the endpoint's tokens with these ids as blocked (answered 403 from now on) and broadcasts
   * EndpointTokenRevokedEvent.
   */
  async revokeToken(endpointId: string, tokenIds: string[], appName = DEFAULT_APP_NAME): Promise<void> {
    for (const [token, entry] of Object.entries(this.credentials.tokens)) {
      if (entry.endpointId === endpointId && tokenIds.includes(entry.tokenId ?? `tokid-${token}`)) entry.blocked = true;
    }
    await this.publish(
      eventSubject(subjects.tokenRevoked, this.serviceInstanceName),
      codecs.tokenRevoked.encode({ ...envelope(randomUUID()), appName, endpointId, tokenIds, originatorReplicaId: this.replicaId }),
    );
    this.logger.info(`revoked token(s) ${tokenIds.join(', ')} of endpoint ${endpointId}`);
  }

  /** Removes the users and certificates holding the credential (within `tenantId` when given: 22/CAP). */
  private forgetCredential(credentialId: string, tenantId?: string): void {
    const { users, certificates = {} } = this.credentials;
    const held = (entry: { credentialId?: string; tenantId?: string }, name: string) =>
      (entry.credentialId ?? `cred-${name}`) === credentialId && (tenantId === undefined || (entry.tenantId ?? DEFAULT_DEV_TENANT) === tenantId);
    for (const [name, user] of Object.entries(users)) if (held(user, name)) delete users[name];
    for (const [key, certificate] of Object.entries(certificates)) if (held(certificate, key)) delete certificates[key];
  }

  private onCapBasic(msg: Msg): void {
    const request = this.decode(msg, codecs.capBasicRequest);
    if (!request) return;
    const { tenantId, username } = request;
    this.requestLog.push({ type: 'cap-basic', subject: msg.subject, reply: msg.reply, username, tenantId });
    const found = this.mode === 'unavailable' ? noCredential(unavailable) : this.checkPassword(request, tenantId);
    this.logger.debug?.(`CAP basic for ${username}@${tenantId} -> ${found.statusCode}`);
    const { credentialId: credentialsId, ...verdict } = found;
    void this.answer(msg, () => codecs.capBasicResponse.encode({ ...envelope(request.correlationId), ...verdict, credentialsId }));
  }

  private onCapCertificate(msg: Msg): void {
    const request = this.decode(msg, codecs.capCertificateRequest);
    if (!request) return;
    const { issuer, serialNumber } = request;
    this.requestLog.push({ type: 'cap-certificate', subject: msg.subject, reply: msg.reply, issuer, serialNumber });
    const found = this.mode === 'unavailable' ? noCredential(unavailable) : this.checkCertificate(request);
    const tenantId = found.statusCode === 200 ? this.certificateEntry(request)?.tenantId ?? DEFAULT_DEV_TENANT : null;
    this.logger.debug?.(`CAP certificate ${issuer}|${serialNumber} -> ${found.statusCode}`);
    const { credentialId: credentialsId, ...verdict } = found;
    void this.answer(msg, () => codecs.capCertificateResponse.encode({ ...envelope(request.correlationId), ...verdict, credentialsId, tenantId }));
  }

  private onUsernamePassword(msg: Msg): void {
    const request = this.decode(msg, codecs.usernamePasswordRequest);
    if (!request) return;
    this.requestLog.push({ type: 'username-password', subject: msg.subject, reply: msg.reply, username: request.username });
    const verdict = this.mode === 'unavailable' ? noCredential(unavailable) : this.checkPassword(request);
    this.logger.debug?.(`ECAP username/password for ${request.username ?? '(none)'} -> ${verdict.statusCode}`);
    void this.answer(msg, () => codecs.usernamePasswordResponse.encode({ ...envelope(request.correlationId), ...verdict }));
  }

  private onCertificate(msg: Msg): void {
    const request = this.decode(msg, codecs.certificateRequest);
    if (!request) return;
    const { issuer, serialNumber } = request;
    this.requestLog.push({ type: 'certificate', subject: msg.subject, reply: msg.reply, issuer, serialNumber });
    const verdict = this.mode === 'unavailable' ? noCredential(unavailable) : this.checkCertificate(request);
    this.logger.debug?.(`ECAP certificate ${issuer}|${serialNumber} -> ${verdict.statusCode}`);
    void this.answer(msg, () => codecs.certificateResponse.encode({ ...envelope(request.correlationId), ...verdict }));
  }

  private onToken(msg: Msg): void {
    const request = this.decode(msg, codecs.tokenRequest);
    if (!request) return;
    const { token, appName } = request;
    this.requestLog.push({ type: 'token', subject: msg.subject, reply: msg.reply, token, appName });
    this.tokenRequestCounts.set(token, (this.tokenRequestCounts.get(token) ?? 0) + 1);
    const verdict: TokenVerdict = this.mode === 'unavailable' ? { ...unavailable, tokenId: null, endpointId: null } : this.checkToken(request);
    this.logger.debug?.(`ECAP token ${token} (${appName}) -> ${verdict.statusCode} ${verdict.endpointId ?? ''}`);
    void this.answer(msg, () => codecs.tokenResponse.encode({ ...envelope(request.correlationId), ...verdict }));
  }

  /** `tenantId`: 22/CAP asks within a tenant; 16/ECAP (undefined) knows none. */
  private checkPassword({ username, password }: Pick<UsernamePasswordRequest, 'username' | 'password'>, tenantId?: string): CredentialVerdict {
    const user = username !== null && Object.hasOwn(this.credentials.users, username) ? this.credentials.users[username] : undefined;
    const inTenant = tenantId === undefined || (user?.tenantId ?? DEFAULT_DEV_TENANT) === tenantId;
    if (!user || user.password !== password || !inTenant) return noCredential({ statusCode: 401, reasonPhrase: 'Invalid username or password' });
    return {
      statusCode: 200,
      reasonPhrase: 'OK',
      clientId: user.clientId ?? `client-${username}`,
      credentialId: user.credentialId ?? `cred-${username}`,
    };
  }

  private certificateEntry({ issuer, serialNumber }: CertificateRequest) {
    const key = `${issuer}|${serialNumber}`;
    const certificates = this.credentials.certificates ?? {};
    return Object.hasOwn(certificates, key) ? certificates[key] : undefined;
  }

  private checkCertificate(request: CertificateRequest): CredentialVerdict {
    const key = `${request.issuer}|${request.serialNumber}`;
    const certificate = this.certificateEntry(request);
    if (!certificate) return noCredential({ statusCode: 404, reasonPhrase: 'Unknown certificate' });
    return {
      statusCode: 200,
      reasonPhrase: 'OK',
      clientId: certificate.clientId ?? `client-${key}`,
      credentialId: certificate.credentialId ?? `cred-${key}`,
    };
  }

  private checkToken({ token }: TokenRequest): TokenVerdict {
    const entry = Object.hasOwn(this.credentials.tokens, token) ? this.credentials.tokens[token] : undefined;
    if (!entry) return { statusCode: 404, reasonPhrase: 'Unknown token', tokenId: null, endpointId: null };
    if (entry.blocked) return { statusCode: 403, reasonPhrase: 'Token blocked', tokenId: null, endpointId: null };
    return { statusCode: 200, reasonPhrase: 'OK', tokenId: entry.tokenId ?? `tokid-${token}`, endpointId: entry.endpointId };
  }

  /** Decodes a request; a message that is not one is logged and dropped. */
  private decode<T>(msg: Msg, codec: Codec<T>): T | undefined {
    try {
      return codec.decode(msg.data);
    } catch (error) {
      warn(this.logger, `ignoring undecodable ECAP request on ${msg.subject} (${msg.data.length} bytes): ${(error as Error).message}`);
      return undefined;
    }
  }

  /** Answers on the request's reply subject as the current mode and delay say. */
  private async answer(msg: Msg, encode: () => Uint8Array): Promise<void> {
    const mode = this.mode;
    if (mode === 'silent') return;
    if (!msg.reply) {
      warn(this.logger, `ECAP request on ${msg.subject} has no reply subject; not answered`);
      return;
    }
    if (this.delayMs > 0) await sleep(this.delayMs);
    try {
      msg.respond(mode === 'garbage' ? GARBAGE : encode());
    } catch (error) {
      // The connection was closed while the answer was delayed (stop()).
      warn(this.logger, `ECAP answer on ${msg.reply} not sent: ${(error as Error).message}`);
    }
  }

  private async publish(subject: string, bytes: Uint8Array): Promise<void> {
    if (!this.connection) throw new Error('DevEcapProvider is not started');
    this.connection.publish(subject, bytes);
    await this.connection.flush();
  }
}

function envelope(correlationId: string) {
  return { correlationId, timestamp: Date.now(), timeout: 0 };
}

function noCredential(status: { statusCode: number; reasonPhrase: string }): CredentialVerdict {
  return { ...status, clientId: null, credentialId: null };
}

/** The concrete subject this provider publishes on, from the `kaa.v1.events.*.…` pattern KPC subscribes to. */
function eventSubject(pattern: string, serviceInstanceName: string): string {
  return pattern.replace('.*.', `.${serviceInstanceName}.`);
}
