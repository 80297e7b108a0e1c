// Top functions by self time in a V8 .cpuprofile (as written by node --cpu-prof).
// Usage: node bench/profile-summary.mjs FILE.cpuprofile [--top 25]
// Functions are aggregated by name + script + definition line (one row per function, however
// many call paths reach it); a second table sums self time per package / source file.
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { repoRoot } from './lib/paths.mjs';

/** Rows `{ selfMs, percent, name, where }` sorted by self time, plus a per-file breakdown. */
export function summarizeProfile(path, top = 25) {
  const profile = JSON.parse(readFileSync(path, 'utf8'));
  const selfUs = new Map(); // node id → µs, from the samples (more exact than hitCount × interval)
  for (let i = 0; i < profile.samples.length; i++) {
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byFunction = new Map();
  const byFile = new Map();
  let totalUs = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = shortUrl(url);
    const where = file ? `${file}:${lineNumber + 1}` : '';
    const key = `${functionName}|${where}`;
    const row = byFunction.get(key) ?? { selfUs: 0, name: functionName || '(anonymous)', where };
    row.selfUs += us;
    byFunction.set(key, row);
    const group = fileGroup(file, functionName);
    byFile.set(group, (byFile.get(group) ?? 0) + us);
  }
  const rows = (entries) =>
    entries
      .sort((a, b) => b.selfUs - a.selfUs)
      .slice(0, top)
      .map((row) => ({ ...row, selfMs: Math.round(row.selfUs / 100) / 10, percent: Math.round((row.selfUs * 1000) / totalUs) / 10 }));
  return {
    totalMs: Math.round(totalUs / 1000),
    functions: rows([...byFunction.values()]),
    files: rows([...byFile].map(([name, selfUs]) => ({ name, selfUs }))),
  };
}

function shortUrl(url) {
  if (!url) return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith(repoRoot) ? path.slice(repoRoot.length + 1) : path;
}

/** Self time grouped by npm package (node_modules/x), by file for our code, or V8/node category. */
function fileGroup(file, functionName) {
  if (!file) return functionName; // (garbage collector), (program), (idle), native code
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (pkg) return `pkg ${pkg[1]}`;
  if (file.startsWith('node:')) return 'node: internals';
  return file;
}

export function profileMarkdown(summary, title) {
  return [
    `### ${title} (${summary.totalMs} ms sampled)`,
    '',
    '| self ms | self % | function | where |',
    '|---:|---:|---|---|',
    ...summary.functions.map((r) => `| ${r.selfMs} | ${r.percent} | \`${r.name}\` | ${r.where} |`),
    '',
    '| self ms | self % | package / file |',
    '|---:|---:|---|',
    ...summary.files.slice(0, 15).map((r) => `| ${r.selfMs} | ${r.percent} | ${r.name} |`),
    '',
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  if (positionals.length !== 1) {
    console.error('usage: node bench/profile-summary.mjs FILE.cpuprofile [--top 25]');
    process.exit(2);
  }
  console.log(profileMarkdown(summarizeProfile(positionals[0], Number(values.top)), positionals[0]));
}
