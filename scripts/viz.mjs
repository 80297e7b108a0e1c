// `npm run viz`: rewrites visualizations/ from the built machines (the npm script builds first).
// Removes files the generator no longer produces, so a renamed or deleted machine leaves nothing behind.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareWithFolder, loadMachineModules, outputDir, renderVisualizations } from './viz-lib.mjs';

const files = await renderVisualizations(await loadMachineModules('dist'));
const changes = compareWithFolder(files);
mkdirSync(outputDir, { recursive: true });
for (const change of changes) {
  const name = change.split(' ')[0];
  if (files.has(name)) writeFileSync(join(outputDir, name), files.get(name));
  else rmSync(join(outputDir, name));
}
console.log(changes.length === 0 ? 'visualizations/ is up to date' : changes.map((c) => `visualizations/${c}: fixed`).join('\n'));
