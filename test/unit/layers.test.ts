// The layer rules of src/ (.dependency-cruiser.cjs), checked on every `npm test` with
// dependency-cruiser, type-only imports included:
// - no import cycle between files, nor between folders of src/ at any depth;
// - the charts in src/machines import only xstate;
// - the core (src/actors) never imports an adapter (src/infra) or the composition root (src/main*);
// - nothing in src/ imports dev tooling, benchmarks, scripts or tests, nor a devDependency.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { folderCycles, type FileDependency } from '../support/folder-cycles.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

interface CruiseResult {
  modules: Array<{ source: string; dependencies: Array<{ resolved: string; dependencyTypes: string[] }> }>;
  summary: { violations: Array<{ rule: { name: string }; from: string; to: string; cycle?: Array<{ name: string }> }> };
}

function cruise(): CruiseResult {
  const run = spawnSync(
    process.execPath,
    [join(repoRoot, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'), 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'],
    { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  // depcruise exits with the number of errors found; the JSON is printed either way.
  if (run.stdout === '') throw new Error(`dependency-cruiser printed nothing (exit ${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as CruiseResult;
}

describe('layer rules', () => {
  let result: CruiseResult;
  beforeAll(() => {
    result = cruise();
  }, 60_000);

  it('dependency-cruiser finds no violation', () => {
    const violations = result.summary.violations.map(({ rule, from, to, cycle }) =>
      `${rule.name}: ${from} → ${cycle === undefined ? to : cycle.map((step) => step.name).join(' → ')}`);
    expect(violations, violations.join('\n')).toEqual([]);
  });

  it('no cycle between folders of src/, at any depth', () => {
    const dependencies: FileDependency[] = result.modules
      .filter((module) => module.source.startsWith('src/'))
      .flatMap((module) => module.dependencies
        .filter((dependency) => dependency.resolved.startsWith('src/'))
        .map((dependency) => ({ from: module.source, to: dependency.resolved })));
    const cycles = folderCycles(dependencies);
    expect(cycles, cycles.map(({ folders, because }) => `${folders.join(' ⇄ ')}:\n  ${because.join('\n  ')}`).join('\n')).toEqual([]);
  });

  it('counts type-only imports (a cycle through types is still a cycle)', () => {
    const ports = result.modules.find((module) => module.source === 'src/actors/ports.ts');
    const transport = ports?.dependencies.find((dependency) => dependency.resolved === 'src/machines/client-session.machine.ts');
    expect(transport?.dependencyTypes).toContain('type-only');
  });
});

describe('folderCycles', () => {
  it('finds a cycle between sibling folders, and between a folder and its parent', () => {
    expect(folderCycles([
      { from: 'src/a/x.ts', to: 'src/b/y.ts' },
      { from: 'src/b/y.ts', to: 'src/a/z.ts' },
      { from: 'src/c/d/x.ts', to: 'src/c/y.ts' },
      { from: 'src/c/y.ts', to: 'src/c/d/z.ts' },
    ])).toEqual([
      { folders: ['src/a', 'src/b'], because: ['src/a/x.ts → src/b/y.ts', 'src/b/y.ts → src/a/z.ts'] },
      { folders: ['src/c', 'src/c/d'], because: ['src/c/d/x.ts → src/c/y.ts', 'src/c/y.ts → src/c/d/z.ts'] },
    ]);
  });

  it('sees a cycle through subfolders as a cycle of their parents', () => {
    const cycles = folderCycles([
      { from: 'src/a/one/x.ts', to: 'src/b/two/y.ts' },
      { from: 'src/b/three/z.ts', to: 'src/a/four/w.ts' },
    ]);
    expect(cycles.map((cycle) => cycle.folders)).toEqual([['src/a', 'src/b']]);
  });

  it('accepts dependencies that all point one way', () => {
    expect(folderCycles([
      { from: 'src/main.ts', to: 'src/main/x.ts' },
      { from: 'src/main/x.ts', to: 'src/infra/y.ts' },
      { from: 'src/infra/y.ts', to: 'src/actors/z.ts' },
      { from: 'src/actors/session/a.ts', to: 'src/actors/z.ts' },
    ])).toEqual([]);
  });
});
