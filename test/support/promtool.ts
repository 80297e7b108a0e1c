// `promtool check metrics`, the Prometheus project's own linter for the exposition format and its
// naming rules. scripts/ensure-setup.mjs puts it in .tools/ (from Debian's `prometheus` package)
// when it is not on PATH.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable } from '../../dev/executables.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function findPromtool(): string {
  const found = findExecutable('promtool') ?? [join(repoRoot, '.tools/promtool')].find((path) => existsSync(path));
  if (found === undefined) throw new Error('promtool not found (PATH, .tools/promtool): run `node scripts/ensure-setup.mjs`');
  return found;
}

/** promtool's exit code and everything it printed about `metricsText`. */
export function checkMetrics(metricsText: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(findPromtool(), ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, output }));
    child.stdin.end(metricsText);
  });
}
