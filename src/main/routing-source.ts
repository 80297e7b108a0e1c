// Where the routing table comes from: the configuration file, or — with
// `kaa.tekton.enabled` — the applications tree from Tekton (17/SCMP) with the file's
// `kaa.extension-instances`. Sessions ask `current()` on every PUBLISH, so a new table applies to
// the next request without touching any connection.
import type { KpcConfig } from '../infra/config/types.js';
import type { Logger } from '../infra/logger.js';
import type { NatsLink } from '../infra/nats/connection.js';
import { subjects } from '../infra/nats/subjects.js';
import type { UndecodableMessages } from '../infra/nats/undecodable-messages.js';
import { TektonRoutingSource } from '../infra/tekton/tekton-routing-source.js';
import { RoutingTable, type ApplicationConfig } from '../actors/traffic/routing.js';

export interface RoutingSource {
  current(): RoutingTable;
  /** Why the routing may be stale, for /health (undefined when fine). */
  problem(): string | undefined;
  stop(): void;
}

type Applications = Record<string, ApplicationConfig>;

/** Version names added, removed and changed (allowed extension instances differ) between two trees. */
export function describeChange(before: Applications, after: Applications): { added: string[]; removed: string[]; changed: string[] } {
  const allowedByVersion = (tree: Applications) =>
    new Map(Object.entries(tree).flatMap(([app, { versions }]) =>
      Object.entries(versions).map(([version, spec]) => [version, `${app}:${[...spec.allowedExtensionInstances].sort().join(',')}`] as const),
    ));
  const old = allowedByVersion(before);
  const now = allowedByVersion(after);
  return {
    added: [...now.keys()].filter((version) => !old.has(version)).sort(),
    removed: [...old.keys()].filter((version) => !now.has(version)).sort(),
    changed: [...now.keys()].filter((version) => old.has(version) && old.get(version) !== now.get(version)).sort(),
  };
}

/**
 * The routing source for `config`. With Tekton, it waits for the first tree (after NATS is
 * connected, so no 17/SCMP event is missed) and throws an error naming Tekton's URL when none
 * comes within `kaa.tekton.timeout`.
 */
export async function openRoutingSource(config: KpcConfig, link: NatsLink, logger: Logger, undecodable: UndecodableMessages): Promise<RoutingSource> {
  const build = (applications: Applications) => new RoutingTable({ ...config.routing, applications }, subjects.clientData);
  if (!config.tekton.enabled) {
    const table = build(config.routing.applications);
    return { current: () => table, problem: () => undefined, stop: () => {} };
  }

  if (Object.keys(config.routing.applications).length > 0) {
    logger.warn('kaa.applications in the configuration file is ignored: kaa.tekton.enabled is true, applications come from Tekton');
  }
  let applications: Applications = {};
  let table: RoutingTable | undefined;
  const source = new TektonRoutingSource({
    url: config.tekton.url!,
    instanceName: config.service.instanceName,
    timeoutMs: config.tekton.timeoutMs,
    nats: link,
    logger,
    undecodable,
    onChange: (next) => {
      const change = describeChange(applications, next);
      applications = next;
      table = build(next);
      logger.info({ event: 'routing.changed', source: 'tekton', ...change }, `routing configuration from Tekton changed: ${summary(change)}`);
    },
  });
  applications = await source.start();
  table = build(applications);
  return { current: () => table!, problem: () => source.problem, stop: () => source.stop() };
}

function summary(change: { added: string[]; removed: string[]; changed: string[] }): string {
  const parts = Object.entries(change)
    .filter(([, versions]) => versions.length > 0)
    .map(([kind, versions]) => `${kind} ${versions.join(', ')}`);
  return parts.length > 0 ? parts.join('; ') : 'no version added, removed or changed';
}
