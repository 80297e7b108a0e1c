// The YAML file as a tree of plain mappings, with Spring-style dotted keys expanded:
// `replica.id: x` under `instance` is the same as `replica: { id: x }`.
import { parse } from 'yaml';
import { ConfigError, fail, kindOf, quote } from './values.js';

/** A mapping with a null prototype, so keys such as `__proto__` or `constructor` are just keys. */
export type Tree = Record<string, unknown>;

export const emptyTree = (): Tree => Object.create(null) as Tree;

export function isMapping(value: unknown): value is Tree {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function parseYamlTree(yamlText: string, fileLabel: string): Tree {
  let doc: unknown;
  try {
    // logLevel 'error': throw on errors (duplicate keys, several documents), stay quiet on warnings.
    doc = parse(yamlText, { logLevel: 'error' });
  } catch (err) {
    throw new ConfigError(`${fileLabel} is not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return emptyTree(); // empty file: all defaults
  if (!isMapping(doc)) throw new ConfigError(`${fileLabel} must contain a mapping at the top level, got ${kindOf(doc)}`);
  return normalize(doc, []) as Tree;
}

/**
 * Whether the keys of the mapping at `path` are names (applications, application versions,
 * extension instances) rather than path segments. Such a key is kept whole, so `my.app` is reported
 * as an invalid name instead of silently becoming an application `my` with an ignored key `app`.
 */
function keysAreNames(path: readonly string[]): boolean {
  if (path[0] !== 'kaa') return false;
  if (path.length === 2) return path[1] === 'applications' || path[1] === 'extension-instances';
  return path.length === 4 && path[1] === 'applications' && path[3] === 'versions';
}

function normalize(value: unknown, path: readonly string[]): unknown {
  if (!isMapping(value)) return value;
  const result = emptyTree();
  const names = keysAreNames(path); // names are kept whole and validated later, in routing.ts
  for (const [key, child] of Object.entries(value)) {
    const segments = names ? [key] : key.split('.');
    if (!names && segments.includes('')) throw new ConfigError(`${quote([...path, key].join('.'))} is not a valid key`);
    insert(result, path, segments, child);
  }
  return result;
}

/** Puts `value` at `segments` below `target` (which sits at `base`), merging with what is there. */
function insert(target: Tree, base: readonly string[], segments: readonly string[], value: unknown): void {
  let node = target;
  const path = [...base];
  for (const segment of segments.slice(0, -1)) {
    path.push(segment);
    const existing = node[segment];
    if (existing === null || existing === undefined) node[segment] = emptyTree();
    else if (!isMapping(existing)) throw conflict(path);
    node = node[segment] as Tree;
  }
  const last = segments[segments.length - 1]!;
  path.push(last);
  const normalized = normalize(value, path);
  const existing = node[last];
  if (existing === null || existing === undefined) node[last] = normalized;
  else if (normalized === null || normalized === undefined) return; // an empty section adds nothing
  else if (isMapping(existing) && isMapping(normalized)) {
    for (const [key, child] of Object.entries(normalized)) insert(existing, path, [key], child);
  } else throw conflict(path);
}

const conflict = (path: readonly string[]) =>
  new ConfigError(`${quote(path.join('.'))} is set twice (as a nested key and as a dotted key)`);

/** The value at `segments`, or undefined when absent or null. A scalar in the way is an error. */
export function lookup(tree: Tree, segments: readonly string[]): unknown {
  let node: unknown = tree;
  for (const [i, segment] of segments.entries()) {
    if (node === null || node === undefined) return undefined;
    if (!isMapping(node)) throw fail(quote(segments.slice(0, i).join('.')), 'a mapping', kindOf(node));
    node = node[segment];
  }
  return node ?? undefined;
}
