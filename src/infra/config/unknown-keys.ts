// Refuses keys nobody reads: a misspelt `server.prot` would otherwise start the service with the
// default port. The YAML tree is walked against the list of valid key paths; `*` stands for a
// user-chosen name (an application, a version, an extension instance), whose inner keys are checked.
// Environment variables are only warned about (see unknownEnvWarnings).
import { closestKey } from './closest-key.js';
import { ConfigError, quote } from './values.js';
import { isMapping, type Tree } from './yaml-tree.js';

/** Keys under names chosen by the user (kaa.applications, kaa.extension-instances). */
export const NAMED_KEY_PATTERNS = [
  'kaa.applications.*.tenant-id',
  'kaa.applications.*.versions.*.allowed-extension-instances',
  'kaa.extension-instances.*.endpoint-aware',
] as const;

const matches = (pattern: readonly string[], path: readonly string[], prefixOnly: boolean): boolean =>
  (prefixOnly ? path.length < pattern.length : path.length === pattern.length) &&
  path.every((segment, i) => pattern[i] === '*' || pattern[i] === segment);

/** Throws ConfigError naming the first key in `tree` that no pattern in `validPaths` matches. */
export function rejectUnknownKeys(tree: Tree, validPaths: readonly string[]): void {
  const patterns = validPaths.map((path) => path.split('.'));
  const walk = (node: Tree, path: string[]): void => {
    for (const [key, child] of Object.entries(node)) {
      const childPath = [...path, key];
      if (patterns.some((pattern) => matches(pattern, childPath, false))) continue;
      if (patterns.some((pattern) => matches(pattern, childPath, true))) {
        // A section: its keys are checked below. A scalar here is reported by the key's own parser.
        if (isMapping(child)) walk(child, childPath);
        continue;
      }
      throw unknownKey(childPath, patterns);
    }
  };
  walk(tree, []);
}

function unknownKey(path: string[], patterns: string[][]): ConfigError {
  // Candidates: every valid key or section at this key's depth, with this key's own names in the `*` positions.
  const atDepth = patterns
    .filter((pattern) => pattern.length >= path.length)
    .map((pattern) => pattern.slice(0, path.length).map((segment, i) => (segment === '*' ? path[i]! : segment)));
  const parent = path.slice(0, -1).join('.');
  const siblings = atDepth.filter((candidate) => candidate.slice(0, -1).join('.') === parent).map((candidate) => candidate.at(-1)!);
  const key = path.join('.');
  // A sibling with a similar name first (`allowed-extensions` → `allowed-extension-instances`), else any similar path.
  const sibling = closestKey(path.at(-1)!, [...new Set(siblings)], { share: 0.5, cap: Infinity });
  const suggestion = sibling !== undefined ? [...path.slice(0, -1), sibling].join('.') : closestKey(key, [...new Set(atDepth.map((c) => c.join('.')))]);
  return new ConfigError(`unknown key ${quote(key)}${suggestion === undefined ? '' : ` (did you mean ${quote(suggestion)}?)`}`);
}

/**
 * Kubernetes injects `{SERVICE}_SERVICE_HOST`, `{SERVICE}_PORT_1883_TCP…` and the like for every
 * Service in the namespace; a Service named `kaa-…` yields `KAA_…` variables nobody misspelt.
 */
const KUBERNETES_SERVICE_LINK = /_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_\w+)?)?)$/;

/**
 * One warning per `KAA_…` variable that sets no key. Not fatal: the environment is shared with
 * everything else in a pod, and only this prefix is KPC's (other variables are not looked at).
 */
export function unknownEnvWarnings(env: NodeJS.ProcessEnv, envNamesInUse: readonly string[]): string[] {
  const known = new Set(envNamesInUse);
  return Object.keys(env)
    .filter((name) => name.startsWith('KAA_') && !known.has(name) && !KUBERNETES_SERVICE_LINK.test(name))
    .map((name) => {
      const suggestion = closestKey(name, envNamesInUse);
      return `environment variable ${name} sets no configuration key and is ignored${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`;
    });
}
