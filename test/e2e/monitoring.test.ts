// deploy/grafana and deploy/prometheus against the real thing: every `kpc_` metric a dashboard
// panel or an alert rule queries is exported by a KPC started with the default configuration
// (every family is registered whatever features are on), and the rules pass `promtool check rules`
// (promtool from Debian's `prometheus` package, installed by scripts/ensure-setup.mjs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { findPromtool } from '../support/promtool.js';
import { type Stack, startStack } from '../support/stack.js';

const DEPLOY = resolve(dirname(fileURLToPath(import.meta.url)), '../../deploy');
const DASHBOARD = resolve(DEPLOY, 'grafana/kpc-dashboard.json');
const ALERTS = resolve(DEPLOY, 'prometheus/kpc-alerts.yaml');

let stack: Stack;
let exported: Set<string>;

/** Every `expr` string anywhere in a JSON/YAML tree. */
function expressions(tree: unknown): string[] {
  if (Array.isArray(tree)) return tree.flatMap(expressions);
  if (tree === null || typeof tree !== 'object') return [];
  return Object.entries(tree).flatMap(([key, value]) => (key === 'expr' && typeof value === 'string' ? [value] : expressions(value)));
}

/** The metric families a PromQL expression names: identifiers starting with `kpc_`, histogram series mapped to their family. */
function familiesIn(expression: string): string[] {
  return [...expression.matchAll(/\bkpc_[a-zA-Z0-9_]+/g)].map(([name]) => name.replace(/_(bucket|sum|count)$/, ''));
}

/** Family names from `# TYPE` lines: a default start shows every family, sampled or not. */
function familiesExported(metricsText: string): Set<string> {
  return new Set([...metricsText.matchAll(/^# TYPE (\S+) \S+$/gm)].map(([, name]) => name!));
}

beforeAll(async () => {
  stack = await startStack();
  exported = familiesExported(await (await fetch(`${stack.kpc.httpUrl}/metrics`)).text());
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe.each([
  ['the Grafana dashboard', () => JSON.parse(readFileSync(DASHBOARD, 'utf8')) as unknown],
  ['the Prometheus alert rules', () => parseYaml(readFileSync(ALERTS, 'utf8')) as unknown],
])('%s', (_what, load) => {
  it('queries only metrics KPC exports', () => {
    const exprs = expressions(load());
    expect(exprs.length).toBeGreaterThan(5);
    const used = new Set(exprs.flatMap(familiesIn));
    const missing = [...used].filter((name) => !exported.has(name));
    expect(missing, `not in a default KPC's /metrics`).toEqual([]);
  });
});

describe('promtool', () => {
  it('check rules accepts the alert rules', () => {
    const output = execFileSync(findPromtool(), ['check', 'rules', ALERTS], { encoding: 'utf8' });
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('check rules refuses a broken rule (the check is real)', () => {
    const broken = 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(rate(kpc_connections_total[5m]) > \n';
    const dir = mkdtempSync(join(tmpdir(), 'kpc-rules-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, broken);
    let stderr = '';
    try {
      execFileSync(findPromtool(), ['check', 'rules', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      stderr = String((error as { stderr: Buffer }).stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(stderr).toMatch(/parse error/);
  });
});
