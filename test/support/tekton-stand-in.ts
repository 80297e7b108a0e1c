// A stand-in for Tekton's REST API (17/SCMP): serves
// `GET /api/v1/service-instances/{instance}/app-configs` from `configs[instance]`, which a test may
// change at any time. `mode` makes it misbehave: 'error' answers HTTP `errorStatus`, 'hang' never
// answers, 'garbage' answers 200 with a body that is not JSON. `delayMs` holds every answer back.
// Every request is recorded.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type TektonMode = 'ok' | 'error' | 'hang' | 'garbage';

export interface TektonRequest {
  method: string;
  path: string;
  /** The service instance named in the path, when the path is the app-configs one. */
  instance?: string;
  /** What the stand-in did with it. */
  answered: TektonMode | 'not found';
}

const APP_CONFIGS = /^\/api\/v1\/service-instances\/([^/]+)\/app-configs\/?$/;

export class TektonStandIn {
  /** The JSON body per service instance name (an instance without an entry gets 404). */
  configs: Record<string, unknown> = {};
  mode: TektonMode = 'ok';
  errorStatus = 500;
  delayMs = 0;
  readonly requests: TektonRequest[] = [];
  /** Requests received but not yet answered (delayed or hanging). */
  pending = 0;
  private readonly hanging = new Set<ServerResponse>();

  private constructor(private readonly server: Server) {}

  static async start(configs: Record<string, unknown> = {}): Promise<TektonStandIn> {
    const server = createServer();
    const standIn = new TektonStandIn(server);
    standIn.configs = configs;
    server.on('request', (req, res) => standIn.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return standIn;
  }

  /** The base URL, as configured in `kaa.tekton.url`. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Recorded requests for one instance's app-configs. */
  appConfigRequests(instance: string): TektonRequest[] {
    return this.requests.filter((request) => request.instance === instance);
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const match = APP_CONFIGS.exec(path);
    const instance = match ? decodeURIComponent(match[1]!) : undefined;
    const known = req.method === 'GET' && instance !== undefined && Object.hasOwn(this.configs, instance);
    // The mode and body are those at arrival: a test that changes them afterwards affects later requests only.
    const mode = this.mode;
    const body = known ? JSON.stringify(this.configs[instance!]) : undefined;
    const status = this.errorStatus;
    this.requests.push({ method: req.method ?? '?', path, instance, answered: known || mode !== 'ok' ? mode : 'not found' });
    req.resume();

    this.pending++;
    this.hanging.add(res);
    const answer = () => {
      if (res.destroyed) return;
      if (mode === 'hang') return; // held open until the client gives up or the stand-in stops
      this.pending--;
      this.hanging.delete(res);
      if (mode === 'error') return void res.writeHead(status, { 'content-type': 'text/plain' }).end('stand-in failure');
      if (mode === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"not json');
      if (!known) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    };
    res.once('close', () => {
      if (this.hanging.delete(res)) this.pending--;
    });
    if (this.delayMs > 0) setTimeout(answer, this.delayMs);
    else answer();
  }
}
