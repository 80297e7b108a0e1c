// Finds a program the way a shell would, plus the sbin directories Debian installs servers into
// (nats-server lands in /usr/sbin, which is not on every user's PATH).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const extraDirs = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}
