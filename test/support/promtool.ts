// promtool: on the PATH, or extracted from Debian's `prometheus` package by scripts/ensure-setup.mjs.
import { accessSync, constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const EXTRACTED = resolve(dirname(fileURLToPath(import.meta.url)), '../../node_modules/.cache/kpc-tools/promtool');

export function promtoolPath(): string {
  try {
    accessSync(EXTRACTED, constants.X_OK);
    return EXTRACTED;
  } catch {
    return 'promtool'; // from the PATH; a clear ENOENT if it is not there either
  }
}
