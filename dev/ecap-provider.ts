// DEVELOPMENT ONLY. A stand-in 16/ECAP provider that validates MQTT client credentials and
// endpoint tokens from an in-memory table (usually loaded from dev/credentials.yml). In production
// Kaa's Credential Management (CM) service plays this role; KPC cannot tell the two apart.
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

export type EcapRequestType = 'username-password' | 'certificate' | 'token';

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
}

export interface DevEcapProviderOptions {
  natsUrls: string | string[];
  /** The ECAP service instance name KPC addresses (`kaa.kpc.authentication.service-instance-name`). */
  serviceInstanceName?: string;
  /** Kept by reference: changes made to it later take effect on the next request. */
  credentials: DevCredentials;
  logger?: DevLogger;
}

/** Bytes that no ECAP response schema decodes (checked by the unit tests). */
const GARBAGE = Buffer.from('this is not an Avro record \u0000\u00ff');

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
  private readonly credentials: DevCredentials;
  private readonly logger: DevLogger;
  private connection?: NatsConnection;

  constructor(opts: DevEcapProviderOptions) {
    this.natsUrls = opts.natsUrls;
    this.serviceInstanceName = opts.serviceInstanceName ?? 'cm';
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
    await connection.flush();
    this.logger.info(
      `dev ECAP provider "${cm}" ready: ${Object.keys(this.credentials.users).length} user(s), ` +
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
    const { users, certificates = {} } = this.credentials;
    for (const [name, user] of Object.entries(users)) {
      if ((user.credentialId ?? `cred-${name}`) === credentialId) delete users[name];
    }
    for (const [key, certificate] of Object.entries(certificates)) {
      if ((certificate.credentialId ?? `cred-${key}`) === credentialId) delete certificates[key];
    }
    await this.publish(
      eventSubject(subjects.credentialRevoked, this.serviceInstanceName),
      codecs.credentialRevoked.encode({ ...envelope(randomUUID()), credentialId, originatorReplicaId: this.replicaId }),
    );
    this.logger.info(`revoked credential ${credentialId}`);
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

  private checkPassword({ username, password }: UsernamePasswordRequest): CredentialVerdict {
    const user = username !== null && Object.hasOwn(this.credentials.users, username) ? this.credentials.users[username] : undefined;
    if (!user || user.password !== password) return noCredential({ statusCode: 401, reasonPhrase: 'Invalid username or password' });
    return {
      statusCode: 200,
      reasonPhrase: 'OK',
      clientId: user.clientId ?? `client-${username}`,
      credentialId: user.credentialId ?? `cred-${username}`,
    };
  }

  private checkCertificate({ issuer, serialNumber }: CertificateRequest): CredentialVerdict {
    const key = `${issuer}|${serialNumber}`;
    const certificates = this.credentials.certificates ?? {};
    const certificate = Object.hasOwn(certificates, key) ? certificates[key] : undefined;
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
