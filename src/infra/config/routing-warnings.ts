// An extension instance that an application version allows but `kaa.extension-instances` does not
// list is routed as endpoint-unaware. That is legitimate (endpoint-unaware instances need no entry),
// so it does not stop start-up, but a forgotten `endpoint-aware: true` looks exactly the same:
// say it once at start, naming both places.
import type { RoutingConfig } from '../../actors/traffic/routing.js';

export function missingExtensionInstanceWarnings(routing: RoutingConfig): string[] {
  const warnings: string[] = [];
  for (const [app, { versions }] of Object.entries(routing.applications)) {
    for (const [version, { allowedExtensionInstances }] of Object.entries(versions)) {
      for (const instance of allowedExtensionInstances.filter((name) => routing.extensionInstances[name] === undefined)) {
        warnings.push(
          `'kaa.applications.${app}.versions.${version}.allowed-extension-instances' names '${instance}', which ` +
            `'kaa.extension-instances' does not list: it is treated as endpoint-unaware`,
        );
      }
    }
  }
  return warnings;
}
