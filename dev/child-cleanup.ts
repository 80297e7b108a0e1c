// Child processes that must not outlive this process (nats-server, KPC under test), even when it
// ends without running its own shutdown. Two ways out are covered: a normal exit (the 'exit'
// event, where only synchronous work is possible) and a terminating signal nobody else handles
// (vitest ends its fork workers with SIGTERM, and a signal death skips 'exit').
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const tetherScript = join(dirname(fileURLToPath(import.meta.url)), 'tether.js');

const liveChildren = new Set<ChildProcess>();
let hooksInstalled = false;

function killAll(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
}

function installHooks(): void {
  hooksInstalled = true;
  process.on('exit', killAll);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => {
      // Another listener (the dev stack) shuts down in order and exits by itself.
      if (process.listenerCount(signal) > 1) return;
      killAll();
      process.exit(128 + constants.signals[signal]);
    });
  }
}

export function killOnExit(child: ChildProcess): void {
  if (!hooksInstalled) installHooks();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** Resolves with the exit code once `child` has exited (at once if it already has). */
export function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Sends `signal`, waits up to `graceMs`, then SIGKILLs. Resolves with the exit code. */
export async function terminate(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<number | null> {
  const exited = waitForExit(child);
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill(signal);
  if (signal !== 'SIGKILL') child.kill('SIGCONT'); // a frozen (SIGSTOPped) process could not act on it
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts `command` through the tether (tether.ts), which stops it once this process has ended,
 * however it ended. The tether's stdin is the pipe it watches; its stdout and stderr are the
 * command's (piped here, to be read or passed on).
 */
export function spawnTethered(command: string, args: string[], opts: { graceMs: number; detached: boolean; cwd?: string; env?: NodeJS.ProcessEnv }): ChildProcess {
  return spawn(process.execPath, [tetherScript, '--grace-ms', String(opts.graceMs), '--', command, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: opts.detached,
    cwd: opts.cwd,
    env: opts.env,
  });
}
