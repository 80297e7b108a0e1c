// Inclusive time in a V8 .cpuprofile, as shares of the busy samples (idle excluded), for the two
// questions the self-time summary (profile-summary.mjs) cannot answer:
//   node bench/profile-inclusive.mjs FILE.cpuprofile
//       per package (node_modules/x) and per folder of KPC's own code: the share of samples whose
//       stack holds a frame of it (shares overlap: a KPC callback inside aedes counts for both);
//   node bench/profile-inclusive.mjs FILE.cpuprofile --callers NAME
//       the samples under functions named NAME (the outermost one of a recursion), attributed to the
//       nearest caller in KPC's own code (dist/, not node_modules): who pays for, say, `macrostep`.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { callers: { type: 'string' } } });
if (positionals.length !== 1) {
  console.error('usage: node bench/profile-inclusive.mjs FILE.cpuprofile [--callers FUNCTION]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parentOf = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);

/** The stack of a sample's node, innermost first. */
function stack(id) {
  const frames = [];
  for (let at = id; at !== undefined; at = parentOf.get(at)) frames.push(nodes.get(at));
  return frames;
}

const own = (url) => /\/dist\//.test(url) && !/node_modules/.test(url);
function group(url) {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `pkg ${pkg[1]}`;
  const mine = /\/dist\/(.*)\/[^/]+\.js$/.exec(url);
  return own(url) && mine ? `kpc ${mine[1]}` : undefined;
}

const busy = profile.samples.filter((id) => nodes.get(id).callFrame.functionName !== '(idle)');
const shares = new Map();
for (const id of busy) {
  const keys = new Set();
  for (const frame of stack(id)) {
    if (values.callers === undefined) {
      const key = group(frame.callFrame.url);
      if (key) keys.add(key);
    }
  }
  if (values.callers !== undefined) {
    const frames = stack(id);
    const outermost = frames.findLastIndex((frame) => frame.callFrame.functionName === values.callers);
    if (outermost < 0) continue;
    const caller = frames.slice(outermost + 1).find((frame) => own(frame.callFrame.url));
    keys.add(caller ? `${caller.callFrame.functionName || '(anonymous)'} ${caller.callFrame.url.replace(/.*\/dist\//, 'dist/')}:${caller.callFrame.lineNumber + 1}` : '(no caller in KPC code)');
  }
  for (const key of keys) shares.set(key, (shares.get(key) ?? 0) + 1);
}
const gc = busy.filter((id) => nodes.get(id).callFrame.functionName === '(garbage collector)').length;
console.log(`${busy.length} busy samples of ${profile.samples.length}; garbage collector ${((100 * gc) / busy.length).toFixed(1)} % of busy`);
console.log(values.callers === undefined ? '| % of busy (inclusive) | package / KPC folder |' : `| % of busy under \`${values.callers}\` | nearest KPC caller |`);
console.log('|---:|---|');
for (const [key, count] of [...shares].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`| ${((100 * count) / busy.length).toFixed(1)} | ${key} |`);
