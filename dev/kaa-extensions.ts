// DEVELOPMENT ONLY. Stand-ins for Kaa's standard extension services, under their usual instance
// names, so that a device written against Kaa's documentation works against `npm run dev`
// unchanged. Each answers its 1/KP resources the way its Kaa extension does in shape (status and
// JSON structure), from memory, per endpoint:
//
//   dcx      data collection (2/DCP)        /json                       → 200, empty payload
//   epmx     endpoint metadata (10/EPMP)    /get, /get/keys             → metadata object, key list
//                                           /update, /update/keys       → 200 (replace / merge)
//                                           /delete/keys                → 200
//   cex      command execution (11/CEP)     /command/{type}             → pending commands [{id, payload}]
//                                           /result/{type}              → 200 (results clear them)
//   cmx      configuration (7/CMP)          /config/json                → {configId, statusCode, reasonPhrase, config}
//   cmx_ota  the same, for OTA targets      /applied/json               → 200
//   epr      endpoint register              any path                    → 200 {} (an acknowledgement only)
//
// Commands (`sendCommand`) and configuration changes (`setConfiguration`) are pushed to the
// endpoint through KPC, as the real extensions push them.
import type { ClientData, ExtensionData } from '../src/infra/nats/codecs.js';
import type { EchoExtension } from './echo-extension.js';

export const KAA_EXTENSION_INSTANCES = ['dcx', 'epmx', 'cex', 'cmx', 'cmx_ota', 'epr'] as const;
export type KaaExtensionInstance = (typeof KAA_EXTENSION_INSTANCES)[number];

type Answer = Partial<ExtensionData> | null;
type Json = unknown;

const EMPTY = Buffer.alloc(0);
const json = (value: Json): Buffer => Buffer.from(JSON.stringify(value));
const ok = (payload: Buffer = EMPTY): Answer => ({ statusCode: 200, payload });
const fail = (statusCode: number, reasonPhrase: string): Answer => ({ statusCode, reasonPhrase, payload: null });
const notFound = (request: ClientData): Answer => fail(404, `No resource ${request.resourcePath}`);

function parseJson(payload: Buffer): { ok: true; value: Json } | { ok: false } {
  try {
    return { ok: true, value: payload.length === 0 ? null : JSON.parse(payload.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

const isObject = (value: Json): value is Record<string, Json> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Per-endpoint memory of every stand-in, keyed by endpointId (endpoint-unaware calls use ''). */
class PerEndpoint<T> {
  private readonly values = new Map<string, T>();
  constructor(private readonly initial: () => T) {}
  of(endpointId: string | null): T {
    const key = endpointId ?? '';
    let value = this.values.get(key);
    if (value === undefined) this.values.set(key, (value = this.initial()));
    return value;
  }
}

export class KaaExtensionStandIn {
  private readonly metadata = new PerEndpoint<Record<string, Json>>(() => ({}));
  private readonly pendingCommands = new PerEndpoint<Array<{ id: number; type: string; payload: Json }>>(() => []);
  private readonly configurations = new PerEndpoint<{ configId: string; config: Json }>(() => ({ configId: 'initial', config: {} }));
  private nextCommandId = 1;
  private nextConfigId = 1;

  constructor(
    readonly kind: KaaExtensionInstance,
    private readonly extension: EchoExtension,
  ) {
    extension.respond = (request) => this.answer(request);
  }

  static isKaaInstance(name: string): name is KaaExtensionInstance {
    return (KAA_EXTENSION_INSTANCES as readonly string[]).includes(name);
  }

  /** cex: queues a command and pushes it to the endpoint on `…/cex/{token}/command/{type}/status`. */
  async sendCommand(endpointId: string, appVersionName: string, type: string, payload: Json): Promise<number> {
    const id = this.nextCommandId++;
    this.pendingCommands.of(endpointId).push({ id, type, payload });
    await this.extension.push({ endpointId, appVersionName, resourcePath: `/command/${type}`, payload: json([{ id, payload }]) });
    return id;
  }

  /** cmx, cmx_ota: a new configuration, pushed to the endpoint on `…/config/json/status`. */
  async setConfiguration(endpointId: string, appVersionName: string, config: Json): Promise<string> {
    const configuration = { configId: `config-${this.nextConfigId++}`, config };
    Object.assign(this.configurations.of(endpointId), configuration);
    await this.extension.push({ endpointId, appVersionName, resourcePath: '/config/json', payload: json({ ...configuration, statusCode: 200, reasonPhrase: 'OK' }) });
    return configuration.configId;
  }

  metadataOf(endpointId: string): Record<string, Json> {
    return this.metadata.of(endpointId);
  }

  private answer(request: ClientData): Answer {
    // 1/KP: a request without a request ID gets no response; the request itself still takes effect.
    const answer = this.handle(request);
    return request.requestId === null ? null : answer;
  }

  private handle(request: ClientData): Answer {
    const body = parseJson(request.payload);
    if (!body.ok) return fail(400, 'Payload is not JSON');
    switch (this.kind) {
      case 'dcx':
        return request.resourcePath === '/json' || request.resourcePath.startsWith('/json/') ? ok() : notFound(request);
      case 'epmx':
        return this.metadataRequest(request, body.value);
      case 'cex':
        return this.commandRequest(request, body.value);
      case 'cmx':
      case 'cmx_ota':
        return this.configurationRequest(request, body.value);
      case 'epr':
        return ok(json({}));
    }
  }

  private metadataRequest(request: ClientData, body: Json): Answer {
    const metadata = this.metadata.of(request.endpointId);
    switch (request.resourcePath) {
      case '/get':
        return ok(json(metadata));
      case '/get/keys':
        return ok(json(Object.keys(metadata)));
      case '/update':
      case '/update/keys': {
        if (!isObject(body)) return fail(400, 'Metadata must be a JSON object');
        if (request.resourcePath === '/update') for (const key of Object.keys(metadata)) delete metadata[key];
        Object.assign(metadata, body);
        return ok();
      }
      case '/delete/keys': {
        if (!Array.isArray(body) || !body.every((key) => typeof key === 'string')) return fail(400, 'Keys must be a JSON array of strings');
        for (const key of body) delete metadata[key];
        return ok();
      }
      default:
        return notFound(request);
    }
  }

  private commandRequest(request: ClientData, body: Json): Answer {
    const [, action, type, extra] = request.resourcePath.split('/');
    if (type === undefined || extra !== undefined) return notFound(request);
    const pending = this.pendingCommands.of(request.endpointId);
    if (action === 'command') return ok(json(pending.filter((command) => command.type === type).map(({ id, payload }) => ({ id, payload }))));
    if (action !== 'result') return notFound(request);
    if (!Array.isArray(body)) return fail(400, 'Command results must be a JSON array');
    for (const result of body) {
      const index = pending.findIndex((command) => isObject(result) && command.id === result.id && command.type === type);
      if (index !== -1) pending.splice(index, 1);
    }
    return ok();
  }

  private configurationRequest(request: ClientData, body: Json): Answer {
    if (request.resourcePath === '/applied/json') return ok();
    if (request.resourcePath !== '/config/json') return notFound(request);
    const current = this.configurations.of(request.endpointId);
    if (isObject(body) && body.configId === current.configId) {
      return ok(json({ configId: current.configId, statusCode: 304, reasonPhrase: 'Not Modified' }));
    }
    return ok(json({ configId: current.configId, statusCode: 200, reasonPhrase: 'OK', config: current.config }));
  }
}
