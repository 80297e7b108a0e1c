// Child processes of the benchmark: spawned in their own process group (a terminal's Ctrl-C
// reaches only the orchestrator, which stops them in order), SIGKILLed if the orchestrator exits
// anyhow (the exit hook of dist-dev/dev/child-cleanup.js), and every wait for them bounded.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { killOnExit, terminate } from '../../dist-dev/dev/child-cleanup.js';
import { repoRoot } from './paths.mjs';
import { withTimeout } from './timeout.mjs';

const live = new Set();

/**
 * Starts `command`. Output lines are kept (the last 40, for error messages) and echoed to our
 * stderr with a `[name]` prefix when asked; `child.on('line', ...)` sees stdout lines. `stdin: 'pipe'`
 * gives the child a stdin to write commands to.
 */
export function spawnChild(name, command, args, { env = {}, echoStdout = false, echoStderr = true, stdin = 'ignore' } = {}) {
  const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'], detached: true });
  child.label = name;
  child.tail = [];
  killOnExit(child);
  live.add(child);
  child.once('exit', () => live.delete(child));
  const keep = (line, echo) => {
    child.tail.push(line);
    if (child.tail.length > 40) child.tail.shift();
    if (echo) console.error(`[${name}] ${line}`);
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    keep(line, echoStdout);
    child.emit('line', line);
  });
  createInterface({ input: child.stderr }).on('line', (line) => keep(line, echoStderr));
  child.once('error', (error) => keep(`spawn error: ${error.message}`, true));
  return child;
}

export function hasExited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Why `child` is gone, with its last output, or undefined while it runs. */
export function exitReason(child) {
  if (!hasExited(child)) return undefined;
  return `${child.label} exited (${child.exitCode ?? child.signalCode}); its last output:\n  ${child.tail.join('\n  ')}`;
}

/** Resolves with the match of the first stdout line matching `pattern`; rejects if the child exits first. */
export function waitForLine(child, pattern, timeoutMs, what) {
  let onLine;
  let onExit;
  const found = new Promise((resolve, reject) => {
    onLine = (line) => {
      const match = pattern.exec(line);
      if (match) resolve(match);
    };
    // 'close' comes after the output streams ended, so a last line is not missed.
    onExit = () => reject(new Error(`${what}: ${exitReason(child) ?? `${child.label} closed its output`}`));
    child.on('line', onLine);
    child.once('close', onExit);
  });
  return withTimeout(found, timeoutMs, `${what}: ${child.label} printed nothing matching ${pattern}`).finally(() => {
    child.off('line', onLine);
    child.off('close', onExit);
  });
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export function stopChild(child, graceMs = 10_000) {
  return terminate(child, 'SIGTERM', graceMs);
}

/** Stops every child still running that `which` selects (error paths and Ctrl-C). */
export async function stopAllChildren(which = () => true) {
  await Promise.all([...live].filter(which).map((child) => stopChild(child, 5_000)));
}

/**
 * Starts `node script args` with the open-file limit raised to `fileLimit` if the hard limit
 * allows, else to the hard limit (`bash -c 'ulimit -n …; exec node …'`) (a sandbox may forbid raising it: see fileLimitOf for what the
 * child actually got). `exec` keeps the pid: child.pid is node's.
 */
export function spawnNode(name, script, args, { fileLimit = 65_536, nodeArgs = [], ...options } = {}) {
  // Only ever raised: a limit already above `fileLimit` is kept.
  const raise = `want=${Number(fileLimit)}; cur=$(ulimit -n); if [ "$cur" != unlimited ] && [ "$cur" -lt "$want" ]; then ` +
    'ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; fi; exec "$@"';
  return spawnChild(name, 'bash', ['-c', raise, 'bash', process.execPath, ...nodeArgs, script, ...args], options);
}
