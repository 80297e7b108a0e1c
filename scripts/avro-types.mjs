// `npm run gen:avro`: rewrites src/infra/nats/avro-types.generated.ts from the schemas in
// src/infra/nats/schemas.ts. Needs no build, so it also runs when a schema change broke the build.
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { generatedFile, loadSchemas, renderAvroTypes, repoRoot } from './avro-types-lib.mjs';

const text = renderAvroTypes(await loadSchemas());
const name = relative(repoRoot, generatedFile);
let current = '';
try {
  current = readFileSync(generatedFile, 'utf8');
} catch {
  // absent: written below
}
if (current === text) console.log(`${name} is up to date`);
else {
  writeFileSync(generatedFile, text);
  console.log(`${name}: rewritten`);
}
