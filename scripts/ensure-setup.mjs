// Makes a fresh clone ready for `npm test`, `npm run dev` and `npm run bench` (it runs before each):
// installs npm dependencies when they are missing or older than package-lock.json, and the system
// tools the tests and the dev stack run (nats-server, openssl, and paho-mqtt for Python, which the
// Kaa-client test runs; mosquitto-clients is only nice to have). Silent when everything is already there. Plain Node, builtins only: it runs before
// `npm ci`, so it cannot use any dependency.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Tools by Debian package; `required` ones stop the run when missing and cannot be installed.
 * `present()` says whether one is there (default: `command` is an executable on the PATH).
 */
const systemTools = [
  { command: 'nats-server', aptPackage: 'nats-server', required: true },
  { command: 'openssl', aptPackage: 'openssl', required: true },
  { command: 'mosquitto_pub', aptPackage: 'mosquitto-clients', required: false, neededBy: 'the manual examples' },
  // `kubectl kustomize` renders deploy/kubernetes in npm test. The node machine image ships a
  // current kubectl; Debian's kubernetes-client (1.20, kustomize v2) is the fallback, too old for
  // the overlays' `patches` field: the test then says so.
  { command: 'kubectl', aptPackage: 'kubernetes-client', required: true },
  // test/e2e/kaa-clients.test.ts runs a device the way Kaa's Python examples write one.
  { command: 'python3 -c "import paho.mqtt"', aptPackage: 'python3-paho-mqtt', required: false, present: pythonHasPaho, neededBy: 'test/e2e/kaa-clients.test.ts (it fails without it)' },
];

/** Debian's python3 is /usr/bin/python3; another one (pyenv) may come first on the PATH. */
function pythonHasPaho() {
  return ['python3', '/usr/bin/python3'].some((python) => spawnSync(python, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore' }).status === 0);
}

const isPresent = (tool) => (tool.present ? tool.present() : findExecutable(tool.command) !== undefined);

/** Where ensurePromtool puts promtool when it is not on the PATH (test/support/promtool.ts looks here too). */
const PROMTOOL_CACHE = join(repoRoot, '.tools/promtool');

function mtimeMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Like `which`, plus the sbin directories Debian puts servers in (not on every user's PATH). */
function findExecutable(name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // keep looking
    }
  }
  return undefined;
}

function run(command, args, env = process.env, cwd = repoRoot) {
  console.log(`[setup] ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd, stdio: 'inherit', env });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    console.error(`[setup] \`${command} ${args.join(' ')}\` failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
}

function ensureNodeModules() {
  const installed = mtimeMs(join(repoRoot, 'node_modules/.package-lock.json'));
  const locked = mtimeMs(join(repoRoot, 'package-lock.json'));
  if (installed !== undefined && (locked === undefined || installed >= locked)) return;
  console.log(installed === undefined ? '[setup] node_modules is missing' : '[setup] package-lock.json is newer than node_modules');
  run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['ci']);
}

function ensureSystemTools() {
  let missing = systemTools.filter((tool) => !isPresent(tool));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((tool) => tool.aptPackage))];
  console.log(`[setup] missing: ${missing.map((tool) => tool.command).join(', ')}`);

  if (process.getuid?.() === 0 && findExecutable('apt-get')) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update'], env);
    run('apt-get', ['install', '-y', ...packages], env);
    missing = systemTools.filter((tool) => !isPresent(tool));
    if (missing.length === 0) return;
  } else {
    console.log(`[setup] install them with:\n\n    sudo apt-get install -y ${packages.join(' ')}\n`);
  }

  const requiredMissing = missing.filter((tool) => tool.required);
  for (const tool of missing.filter((tool) => !tool.required)) {
    console.warn(`[setup] warning: ${tool.command} (${tool.aptPackage}) is missing; only ${tool.neededBy} need(s) it`);
  }
  if (requiredMissing.length > 0) {
    console.error(`[setup] cannot continue without ${requiredMissing.map((tool) => tool.command).join(', ')}`);
    process.exit(1);
  }
}

/**
/**
 * promtool checks deploy/prometheus in npm test. It comes with Debian's `prometheus` package, whose
 * installation would also install (and on a systemd machine start) a Prometheus server: only the
 * promtool binary is extracted from the package instead, which needs no root.
 */
function ensurePromtool() {
  if (findExecutable('promtool') || mtimeMs(PROMTOOL_CACHE) !== undefined) return;
  if (!findExecutable('apt-get') || !findExecutable('dpkg-deb')) {
    console.error('[setup] promtool is missing and apt-get/dpkg-deb are not here to fetch it: install Prometheus\'s promtool on the PATH');
    process.exit(1);
  }
  const work = mkdtempSync(join(tmpdir(), 'kpc-promtool-'));
  try {
    // A fresh machine's package lists may not know the package yet: refresh them once and retry.
    const download = () => spawnSync('apt-get', ['download', 'prometheus'], { cwd: work, stdio: 'inherit' }).status === 0;
    if (!download()) {
      run('apt-get', ['update'], { ...process.env, DEBIAN_FRONTEND: 'noninteractive' });
      run('apt-get', ['download', 'prometheus'], process.env, work);
    }
    const deb = readdirSync(work).find((name) => name.endsWith('.deb'));
    run('dpkg-deb', ['-x', join(work, deb), join(work, 'root')]);
    mkdirSync(dirname(PROMTOOL_CACHE), { recursive: true });
    copyFileSync(join(work, 'root/usr/bin/promtool'), PROMTOOL_CACHE);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

ensureNodeModules();
ensureSystemTools();
ensurePromtool();
