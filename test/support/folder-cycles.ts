// Cycles between folders, from a list of file dependencies. A folder depends on another when one of
// its files imports a file in the other; this is looked at for every depth of the folder tree, so
// `src/infra/nats/x.ts → src/actors/ports.ts` makes both `src/infra → src/actors` and
// `src/infra/nats → src/actors`. Each strongly connected set of folders is one cycle, reported with
// the file dependencies that make it.
import { dirname } from 'node:path';

export interface FileDependency {
  from: string;
  to: string;
}

export interface FolderCycle {
  folders: string[];
  because: string[];
}

export function folderCycles(dependencies: readonly FileDependency[]): FolderCycle[] {
  const edges = new Map<string, Map<string, Set<string>>>();
  for (const { from, to } of dependencies) {
    const a = dirname(from).split('/');
    const b = dirname(to).split('/');
    for (let depth = 1; depth <= Math.max(a.length, b.length); depth++) {
      const source = a.slice(0, depth).join('/');
      const target = b.slice(0, depth).join('/');
      if (source === target) continue;
      let targets = edges.get(source);
      if (targets === undefined) edges.set(source, (targets = new Map()));
      let because = targets.get(target);
      if (because === undefined) targets.set(target, (because = new Set()));
      because.add(`${from} → ${to}`);
    }
  }
  return stronglyConnected(edges)
    .filter((folders) => folders.length > 1)
    .map((folders) => {
      const inside = new Set(folders);
      const because = new Set<string>();
      for (const folder of folders) {
        for (const [target, files] of edges.get(folder) ?? []) if (inside.has(target)) files.forEach((file) => because.add(file));
      }
      return { folders: folders.sort(), because: [...because].sort() };
    });
}

/** Tarjan's algorithm. */
function stronglyConnected(edges: Map<string, Map<string, Set<string>>>): string[][] {
  const index = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    lowLink.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node)?.keys() ?? []) {
      if (!index.has(next)) {
        visit(next);
        lowLink.set(node, Math.min(lowLink.get(node)!, lowLink.get(next)!));
      } else if (onStack.has(next)) {
        lowLink.set(node, Math.min(lowLink.get(node)!, index.get(next)!));
      }
    }
    if (lowLink.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    components.push(component);
  };
  for (const node of edges.keys()) if (!index.has(node)) visit(node);
  return components;
}
