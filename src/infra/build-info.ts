// What `kpc_build_info` labels a replica with: KPC's version (package.json, next to dist/ in
// every install: the Dockerfile copies it), the Node.js version and the NATS client version.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function versionOf(packageJsonPath: string): string {
  try {
    const { version } = JSON.parse(readFileSync(require.resolve(packageJsonPath), 'utf8')) as { version?: unknown };
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function buildInfo(): { version: string; nodejs: string; nats_client: string } {
  return {
    version: versionOf('../../package.json'),
    nodejs: process.versions.node,
    nats_client: versionOf('nats/package.json'),
  };
}
