// A minimal 4/ESP extension service for development and tests: it records every ClientData it
// receives and, by default, answers each one with an ExtensionData carrying the same payload.
// `respond` can be replaced to answer differently or not at all; `push` sends unsolicited data.
import { randomUUID } from 'node:crypto';
import type { Msg, NatsConnection } from 'nats';
import { codecs, type ClientData, type ExtensionData } from '../src/infra/nats/codecs.js';
import { subjects } from '../src/infra/nats/subjects.js';
import { connectToNats } from './nats-connection.js';
import { consoleDevLogger, warn, type DevLogger } from './dev-logger.js';

export interface EchoExtensionOptions {
  natsUrls: string | string[];
  /** The extension instance name clients address in their topics; also the queue group. */
  instanceName: string;
  /** Where pushes go by default: `kaa.v1.service.{kpcInstanceName}.esp.ExtensionData`. */
  kpcInstanceName?: string;
  logger?: DevLogger;
}

/** What `push` sends; the envelope (correlationId, timestamp, extensionInstanceName) is filled in. */
export interface PushData {
  endpointId: string | null;
  appVersionName: string | null;
  resourcePath: string;
  payload: Buffer | null;
  requestId?: number | null;
  statusCode?: number;
  reasonPhrase?: string | null;
}

type Responder = (request: ClientData) => Partial<ExtensionData> | null | Promise<Partial<ExtensionData> | null>;

/**
 * The default answer: status 200 with the request's payload. The answer's other fields (ids,
 * resource path, request id) are copied from the request by `EchoExtension` whatever `respond` is.
 * Like any 1/KP-aware extension it does not answer messages without a request ID (1/KP: "the
 * response SHOULD NOT be published"); KPC would route such an answer as a push.
 */
const echo: Responder = (request) => (request.requestId === null ? null : { statusCode: 200, payload: request.payload });

export class EchoExtension {
  readonly received: ClientData[] = [];
  /**
   * Turns a request into the fields of its answer, laid over a copy of the request's
   * appVersionName, endpointId, resourcePath and requestId with status 200 and no payload.
   * Return null to leave the request unanswered. May be async (to answer late).
   */
  respond: Responder = echo;

  private readonly natsUrls: string | string[];
  private readonly instanceName: string;
  private readonly kpcInstanceName: string;
  private readonly logger: DevLogger;
  private connection?: NatsConnection;
  private waiters: Array<() => void> = [];

  constructor(opts: EchoExtensionOptions) {
    this.natsUrls = opts.natsUrls;
    this.instanceName = opts.instanceName;
    this.kpcInstanceName = opts.kpcInstanceName ?? 'kpc';
    this.logger = opts.logger ?? consoleDevLogger;
  }

  /** Connects and subscribes; resolves once the server has the subscription. */
  async start(): Promise<void> {
    if (this.connection) return;
    const connection = await connectToNats(this.natsUrls, `echo-extension(${this.instanceName})`);
    this.connection = connection;
    const subject = subjects.clientData(this.instanceName);
    connection.subscribe(subject, {
      queue: this.instanceName,
      callback: (error, msg) => {
        if (error) warn(this.logger, `extension ${this.instanceName}: subscription failed:`, error.message);
        else void this.onClientData(msg);
      },
    });
    await connection.flush();
    this.logger.info(`echo extension "${this.instanceName}" listening on ${subject}`);
  }

  async stop(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    if (connection && !connection.isClosed()) await connection.drain();
  }

  /** Publishes an unsolicited ExtensionData (default: to the KPC instance-wide subject) and flushes. */
  async push(data: PushData, subject = subjects.instanceExtensionData(this.kpcInstanceName)): Promise<void> {
    if (!this.connection) throw new Error(`EchoExtension(${this.instanceName}) is not started`);
    const message: ExtensionData = {
      correlationId: randomUUID(),
      timestamp: Date.now(),
      timeout: 0,
      extensionInstanceName: this.instanceName,
      appVersionName: data.appVersionName,
      endpointId: data.endpointId,
      resourcePath: data.resourcePath,
      requestId: data.requestId ?? null,
      payload: data.payload,
      statusCode: data.statusCode ?? 200,
      reasonPhrase: data.reasonPhrase ?? null,
    };
    this.connection.publish(subject, codecs.extensionData.encode(message));
    await this.connection.flush();
  }

  /** Resolves with `received` once it holds at least `count` messages. */
  waitFor(count: number, timeoutMs = 10_000): Promise<ClientData[]> {
    if (this.received.length >= count) return Promise.resolve(this.received);
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.received.length < count) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== check);
        resolve(this.received);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== check);
        reject(
          new Error(
            `EchoExtension(${this.instanceName}): expected ${count} ClientData message(s) within ${timeoutMs} ms, ` +
              `received ${this.received.length}`,
          ),
        );
      }, timeoutMs);
      this.waiters.push(check);
    });
  }

  private async onClientData(msg: Msg): Promise<void> {
    let request: ClientData;
    try {
      request = codecs.clientData.decode(msg.data);
    } catch (error) {
      warn(this.logger, `extension ${this.instanceName}: ignoring undecodable ClientData (${msg.data.length} bytes): ${(error as Error).message}`);
      return;
    }
    this.received.push(request);
    for (const waiter of [...this.waiters]) waiter();
    this.logger.debug?.(`extension ${this.instanceName}: ClientData ${request.resourcePath} from ${request.endpointId ?? '(no endpoint)'}`);

    let answer: Partial<ExtensionData> | null;
    try {
      answer = await this.respond(request);
    } catch (error) {
      warn(this.logger, `extension ${this.instanceName}: respond() threw, request not answered: ${(error as Error).message}`);
      return;
    }
    if (answer === null) return;
    if (!msg.reply) {
      warn(this.logger, `extension ${this.instanceName}: ClientData without a reply subject; not answered`);
      return;
    }
    const reply: ExtensionData = {
      correlationId: request.correlationId,
      timestamp: Date.now(),
      timeout: 0,
      appVersionName: request.appVersionName,
      extensionInstanceName: this.instanceName,
      endpointId: request.endpointId,
      resourcePath: request.resourcePath,
      requestId: request.requestId,
      payload: null,
      statusCode: 200,
      reasonPhrase: null,
      ...answer,
    };
    try {
      msg.respond(codecs.extensionData.encode(reply));
    } catch (error) {
      warn(this.logger, `extension ${this.instanceName}: answer not sent: ${(error as Error).message}`);
    }
  }
}
