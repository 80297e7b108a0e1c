// kaa.applications and kaa.extension-instances: maps keyed by names, so YAML-only (no env overrides).
import type { AppVersionConfig, ApplicationConfig, RoutingConfig } from '../../actors/traffic/routing.js';
import { ConfigError, bool, fail, kindOf, quote, routingName, text } from './values.js';
import { emptyTree, isMapping, lookup, type Tree } from './yaml-tree.js';

/**
 * Null-prototype records: names come from clients (MQTT topics), and a lookup of `constructor`
 * or `__proto__` must find nothing rather than an Object.prototype member.
 */
const record = <T>(): Record<string, T> => emptyTree() as Record<string, T>;

/** The entries of an optional mapping at `path`. */
function entriesAt(value: unknown, path: string): [string, unknown][] {
  if (value === undefined || value === null) return [];
  if (!isMapping(value)) throw fail(quote(path), 'a mapping', kindOf(value));
  return Object.entries(value);
}

/** `field` of the optional mapping `value` found at `path`. */
function fieldOf(value: unknown, path: string, field: string): unknown {
  if (value === undefined || value === null) return undefined;
  if (!isMapping(value)) throw fail(quote(path), 'a mapping', kindOf(value));
  return value[field] ?? undefined;
}

function nameList(value: unknown, path: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw fail(quote(path), 'a list of extension instance names', kindOf(value));
  return [...new Set(value.map((item, i) => routingName(item, quote(`${path}[${i}]`))))];
}

export function parseRouting(tree: Tree): RoutingConfig {
  const extensionInstances = record<{ endpointAware: boolean }>();
  for (const [name, spec] of entriesAt(lookup(tree, ['kaa', 'extension-instances']), 'kaa.extension-instances')) {
    const path = `kaa.extension-instances.${name}`;
    routingName(name, quote(path));
    const endpointAware = fieldOf(spec, path, 'endpoint-aware');
    extensionInstances[name] = { endpointAware: endpointAware === undefined ? false : bool(endpointAware, quote(`${path}.endpoint-aware`)) };
  }

  const applications = parseApplications(lookup(tree, ['kaa', 'applications']));
  return { applications, extensionInstances };
}

/**
 * Validates an applications tree (`{appName: {tenant-id?, versions: {appVersionName: {allowed-extension-instances: [...]}}}}`)
 * and returns it typed. Used for `kaa.applications` in the file and for Tekton's app-configs (17/SCMP);
 * `root` names the tree's position in error messages. Throws ConfigError naming the offending path.
 */
export function parseApplications(value: unknown, root = 'kaa.applications'): Record<string, ApplicationConfig> {
  const applications = record<ApplicationConfig>();
  const appOfVersion = new Map<string, string>(); // version names are unique across applications
  for (const [app, appSpec] of entriesAt(value, root)) {
    const appPath = `${root}.${app}`;
    routingName(app, quote(appPath));
    const versionsPath = `${appPath}.versions`;
    const versions = record<AppVersionConfig>();
    for (const [version, versionSpec] of entriesAt(fieldOf(appSpec, appPath, 'versions'), versionsPath)) {
      const versionPath = `${versionsPath}.${version}`;
      routingName(version, quote(versionPath));
      const otherApp = appOfVersion.get(version);
      if (otherApp !== undefined) {
        throw new ConfigError(
          `application version name "${version}" is used by both ${quote(`${root}.${otherApp}.versions.${version}`)}` +
            ` and ${quote(versionPath)}; it must be unique across applications`,
        );
      }
      appOfVersion.set(version, app);
      const listPath = `${versionPath}.allowed-extension-instances`;
      versions[version] = { allowedExtensionInstances: nameList(fieldOf(versionSpec, versionPath, 'allowed-extension-instances'), listPath) };
    }
    const tenantId = fieldOf(appSpec, appPath, 'tenant-id');
    applications[app] = tenantId === undefined ? { versions } : { tenantId: text(tenantId, quote(`${appPath}.tenant-id`)), versions };
  }
  return applications;
}
