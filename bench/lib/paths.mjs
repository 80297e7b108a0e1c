// Where things are, whatever directory the bench is started from.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const resultsDir = join(repoRoot, 'bench/results');
