// Runs a local nats-server child process on 127.0.0.1, for the dev stack and for tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { findExecutable } from './executables.js';
import { getFreePort, waitForPort } from './ports.js';
import { killOnExit, spawnTethered, terminate } from './child-cleanup.js';

export interface NatsServerHandle {
  url: string;
  port: number;
  /** Graceful stop (SIGTERM, SIGKILL after 5 s); resolves once the process has exited. */
  stop(): Promise<void>;
  /**
   * Sends `signal` (default SIGKILL) and resolves once the process has exited; SIGSTOP/SIGCONT
   * (freeze/thaw a server to simulate a hang) resolve at once.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops the server if it runs, starts it again on the same port, resolves when it accepts. */
  restart(): Promise<void>;
}

export interface NatsServerOptions {
  port?: number;
  /** Extra nats-server arguments. */
  args?: string[];
  /** Own process group, so a terminal's Ctrl-C reaches only the parent, which stops it in order. */
  detached?: boolean;
  /**
   * Run it through the tether (dist-dev/dev/tether.js), so that it stops when this process ends in any
   * way, SIGKILL included. Only from the built dev stack (the tether is a dist-dev/ file).
   */
  tethered?: boolean;
  startTimeoutMs?: number;
}

export function findNatsServer(): string | undefined {
  return findExecutable('nats-server');
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const executable = findNatsServer();
  if (!executable) throw new Error('nats-server not found (PATH, /usr/sbin); install it: sudo apt-get install -y nats-server');
  const port = opts.port ?? (await getFreePort());
  const args = ['-a', '127.0.0.1', '-p', String(port), ...(opts.args ?? [])];
  let child: ChildProcess | undefined;

  async function launch(): Promise<void> {
    const proc = opts.tethered
      ? spawnTethered(executable!, args, { graceMs: 5_000, detached: opts.detached ?? false })
      : spawn(executable!, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
    child = proc;
    if (!opts.tethered) killOnExit(proc); // a tethered one stops by itself; SIGKILLing its tether would orphan it
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000); // only the tail matters for an error message
    };
    proc.stdout!.on('data', collect);
    proc.stderr!.on('data', collect);
    let spawnError: Error | undefined;
    proc.once('error', (error) => (spawnError = error));
    try {
      await waitForPort(port, {
        timeoutMs: opts.startTimeoutMs ?? 10_000,
        failure: () => {
          if (spawnError) return `nats-server could not be started: ${spawnError.message}`;
          if (proc.exitCode !== null || proc.signalCode !== null) {
            return `nats-server exited (${proc.exitCode ?? proc.signalCode}) before accepting on port ${port}:\n${output}`;
          }
          return undefined;
        },
      });
    } catch (error) {
      await terminate(proc, opts.tethered ? 'SIGTERM' : 'SIGKILL');
      throw new Error(`${(error as Error).message}\nnats-server output:\n${output}`);
    }
  }

  async function stopWith(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    if (child) await terminate(child, signal, graceMs);
  }

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    stop: () => stopWith('SIGTERM', 5_000),
    kill: async (signal = 'SIGKILL') => {
      if (signal === 'SIGSTOP' || signal === 'SIGCONT' || signal === 'SIGTSTP') child?.kill(signal);
      else await stopWith(signal, 5_000);
    },
    restart: async () => {
      await stopWith('SIGTERM', 5_000);
      await launch();
    },
  };
}
