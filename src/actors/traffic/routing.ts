// Resolves a PUBLISH topic (1/KP) against the routing configuration: which application version,
// which extension instance, whether it is endpoint-aware, and KPC's own errors when it is not allowed.
import { isValidName, parseKpTopic, trailingRequestId } from './topic.js';

/** The routing configuration (`kaa.applications`, `kaa.extension-instances`), built by the configuration adapters. */
export interface AppVersionConfig {
  allowedExtensionInstances: string[]; // allowed-extension-instances ([])
}

export interface ApplicationConfig {
  /** tenant-id: the tenant that owns the application, named in endpoint traffic reports. */
  tenantId?: string;
  versions: Record<string, AppVersionConfig>;
}

export interface RoutingConfig {
  /** kaa.applications: appName → versions; appVersionName is unique across applications. */
  applications: Record<string, ApplicationConfig>;
  /** kaa.extension-instances: name → { endpoint-aware (false) } */
  extensionInstances: Record<string, { endpointAware: boolean }>;
}

export interface Route {
  ok: true;
  appName: string;
  appVersionName: string;
  extensionInstanceName: string;
  /** Where the outbox sends the instance's ClientData (its NATS subject), computed once per instance by the adapter. */
  clientDataSubject: string;
  endpointAware: boolean;
  /** The endpoint token (endpoint-aware instances only, else ''). */
  token: string;
  /** Leading `/`, without the token and the request ID: `kp1/v1/dcx/TOKEN/json/42` → `/json`. */
  resourcePath: string;
  requestId: number | null;
}

export interface RouteError {
  ok: false;
  statusCode: number;
  reasonPhrase: string;
  requestId: number | null;
}

interface VersionRoute {
  appName: string;
  allowed: Map<string, { endpointAware: boolean; clientDataSubject: string }>;
}

/** The endpoint a SUBSCRIBE filter names: an endpoint-aware instance's token level, no wildcard. */
export interface NamedEndpoint {
  appName: string;
  appVersionName: string;
  token: string;
}

export const INVALID_PATH = 'Invalid 1/KP resource path';

/**
 * Routes remembered per topic: a device publishes to the same few topics over and over, so a topic
 * is parsed and looked up once. Only topics without a request ID (a topic with one is new each
 * time) and of bounded length, so that the cache holds at most 2 MiB of topic strings; when it is full it
 * starts over. A new table (configuration change) starts empty.
 */
const CACHED_ROUTES = 4_096;
const CACHED_TOPIC_MAX_LENGTH = 256;

/** An immutable lookup table built once from the configuration (and rebuilt when it changes). */
export class RoutingTable {
  private readonly versions = new Map<string, VersionRoute>();
  private readonly tenants = new Map<string, string>();
  /** Shared by every PUBLISH to the topic: never modified. */
  private readonly routesByTopic = new Map<string, Route>();

  constructor(config: RoutingConfig, clientDataSubject: (extensionInstance: string) => string) {
    for (const [appName, app] of Object.entries(config.applications)) {
      if (app.tenantId !== undefined) this.tenants.set(appName, app.tenantId);
      for (const [versionName, version] of Object.entries(app.versions)) {
        const allowed = new Map<string, { endpointAware: boolean; clientDataSubject: string }>();
        for (const instance of version.allowedExtensionInstances) {
          allowed.set(instance, {
            endpointAware: config.extensionInstances[instance]?.endpointAware ?? false,
            clientDataSubject: clientDataSubject(instance),
          });
        }
        this.versions.set(versionName, { appName, allowed });
      }
    }
  }

  /** The tenant the application's configuration names (`tenant-id`), if any. */
  tenantOf(appName: string): string | undefined {
    return this.tenants.get(appName);
  }

  /**
   * The endpoint token a SUBSCRIBE filter names, if any: `kp1/{version}/{instance}/{token}/…` with
   * a known version, an allowed endpoint-aware instance and a token level that is not a wildcard
   * (`kp1/v1/cex/TOKEN/command/reboot/+` names TOKEN; `kp1/v1/cex/+/command/#` names none).
   */
  endpointNamedBy(filter: string): NamedEndpoint | null {
    const [prefix, appVersionName, extensionInstanceName, token] = filter.split('/', 4);
    if (prefix !== 'kp1' || appVersionName === undefined || extensionInstanceName === undefined || token === undefined) return null;
    const version = this.versions.get(appVersionName);
    if (version === undefined || !version.allowed.get(extensionInstanceName)?.endpointAware || !isValidName(token)) return null;
    return { appName: version.appName, appVersionName, token };
  }

  resolve(topic: string): Route | RouteError {
    const cached = this.routesByTopic.get(topic);
    if (cached !== undefined) return cached;
    const route = this.resolveUncached(topic);
    if (route.ok && route.requestId === null && topic.length <= CACHED_TOPIC_MAX_LENGTH) {
      if (this.routesByTopic.size >= CACHED_ROUTES) this.routesByTopic.clear();
      this.routesByTopic.set(topic, route);
    }
    return route;
  }

  private resolveUncached(topic: string): Route | RouteError {
    const parsed = parseKpTopic(topic);
    if (parsed === null) return invalid(trailingRequestId(topic));
    const { appVersionName, extensionInstanceName, path, requestId } = parsed;

    const version = this.versions.get(appVersionName);
    if (version === undefined) {
      return { ok: false, statusCode: 404, reasonPhrase: `Unknown application version '${appVersionName}'`, requestId };
    }
    const instance = version.allowed.get(extensionInstanceName);
    if (instance === undefined) {
      return {
        ok: false,
        statusCode: 403,
        reasonPhrase: `Extension instance '${extensionInstanceName}' is not allowed for '${appVersionName}'`,
        requestId,
      };
    }

    let token = '';
    let resourcePath: string;
    if (instance.endpointAware) {
      const tokenEnd = path.indexOf('/');
      if (tokenEnd === -1) return invalid(trailingRequestId(topic)); // a token but no resource path
      token = path.slice(0, tokenEnd);
      if (!isValidName(token)) return invalid(requestId);
      resourcePath = path.slice(tokenEnd);
    } else {
      resourcePath = '/' + path;
    }
    return {
      ok: true,
      appName: version.appName,
      appVersionName,
      extensionInstanceName,
      clientDataSubject: instance.clientDataSubject,
      endpointAware: instance.endpointAware,
      token,
      resourcePath,
      requestId,
    };
  }
}

function invalid(requestId: number | null): RouteError {
  return { ok: false, statusCode: 400, reasonPhrase: INVALID_PATH, requestId };
}
