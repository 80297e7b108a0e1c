// Extension → client (SPEC §6): an ExtensionData goes to the client whose request it answers
// (by correlationId), else to the session holding its endpoint (a push), else it is dropped and
// counted. Cross-replica forwarding (rule 3) comes with the cluster table.
import type { Logger } from 'pino';
import { codecs, type ExtensionData } from '../infra/nats/codecs.js';
import { errorPayload, errorTopic, pushTopic, statusTopic } from '../protocol/responses.js';
import type { ClientSession } from './client-session.js';
import type { EndpointSession } from './endpoint-session.js';
import type { RequestMemory } from './request-memory.js';

export type ExtensionDataOutcome = 'reply' | 'push' | 'endpoint-offline' | 'client-gone' | 'undecodable' | 'unroutable';

export class ExtensionDataRouter {
  constructor(
    private readonly requests: RequestMemory<ClientSession>,
    private readonly holderOf: (endpointId: string) => EndpointSession | undefined,
    private readonly logger: Logger,
    private readonly count: (outcome: ExtensionDataOutcome) => void,
  ) {}

  route(bytes: Uint8Array, subject: string): void {
    let data: ExtensionData;
    try {
      data = codecs.extensionData.decode(bytes);
    } catch (error) {
      this.count('undecodable');
      this.logger.warn({ subject, bytes: bytes.length, err: (error as Error).message }, 'undecodable ExtensionData dropped');
      return;
    }

    const request = this.requests.take(data.correlationId);
    if (request !== undefined) {
      if (!request.session.isActive) return this.dropped('client-gone', data);
      const [topic, payload] = response(request.topic, data);
      request.session.deliver(topic, payload, request.qos);
      this.count('reply');
      return;
    }

    const holder = data.endpointId === null ? undefined : this.holderOf(data.endpointId);
    if (holder === undefined) return this.dropped('endpoint-offline', data);
    if (data.extensionInstanceName === null) return this.dropped('unroutable', data);
    const base = pushTopic(data.appVersionName ?? holder.appVersionName, data.extensionInstanceName, holder.token, data.resourcePath, data.requestId);
    const [topic, payload] = response(base, data);
    holder.deliverPush(topic, payload);
    this.count('push');
  }

  private dropped(outcome: ExtensionDataOutcome, data: ExtensionData): void {
    this.count(outcome);
    this.logger.debug({ outcome, correlationId: data.correlationId, endpointId: data.endpointId }, 'ExtensionData dropped');
  }
}

/** `/status` with the payload bytes unchanged below 400, `/error` with a JSON error from 400 on. */
function response(requestTopic: string, data: ExtensionData): [string, Buffer] {
  if (data.statusCode < 400) return [statusTopic(requestTopic), data.payload ?? Buffer.alloc(0)];
  return [errorTopic(requestTopic), errorPayload(data.statusCode, data.reasonPhrase ?? '')];
}
