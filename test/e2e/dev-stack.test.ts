// `npm run dev` leaves nothing behind, however it ends: SIGKILL of the dev stack itself, or SIGTERM
// to npm (which ends npm and its `sh -c` and passes the signal to nobody). The dev stack runs on
// free ports here (SERVER_PORT, KAA_KPC_TRANSPORTS_MQTT_TCP_PORT, DEV_NATS_PORT); every process
// under it and every port must be gone afterwards. Its KPC log lines are human-readable.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { terminate } from '../../dev/child-cleanup.js';
import { getFreePort, isPortFree } from '../../dev/ports.js';
import { waitUntil } from '../support/waiting.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const started: ChildProcess[] = [];
const leftovers = new Set<number>();

afterEach(async () => {
  // Whatever a failed test left: the started process, then every process that was under it.
  await Promise.all(started.splice(0).map((child) => terminate(child, 'SIGKILL')));
  for (const pid of leftovers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  leftovers.clear();
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every process below `pid` (children, grandchildren...), from `ps`. */
function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const line of execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' }).trim().split('\n')) {
    const [child, parent] = line.trim().split(/\s+/).map(Number);
    parentOf.set(child!, parent!);
  }
  const below = (root: number): number[] => [...parentOf].filter(([, parent]) => parent === root).flatMap(([child]) => [child, ...below(child)]);
  return below(pid);
}

interface RunningStack {
  process: ChildProcess;
  output: () => string;
  ports: { mqtt: number; http: number; nats: number };
}

/** Starts `command` (the dev stack, directly or through npm) and waits until it says it is ready. */
async function startDevStack(command: string, args: string[]): Promise<RunningStack> {
  const ports = { mqtt: await getFreePort(), http: await getFreePort(), nats: await getFreePort() };
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      SERVER_PORT: String(ports.http),
      KAA_KPC_TRANSPORTS_MQTT_TCP_PORT: String(ports.mqtt),
      DEV_NATS_PORT: String(ports.nats),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitUntil(() => output.includes('KPC dev stack is ready') || child.exitCode !== null, 'the dev stack saying it is ready', {
    timeoutMs: 30_000,
    detail: () => output,
  });
  expect(child.exitCode, output).toBeNull();
  return { process: child, output: () => output, ports };
}

/** Kills the stack `how`, then waits until every process that was under it has exited and every port is free. */
async function expectNothingLeftAfter(stack: RunningStack, end: (stack: RunningStack) => void): Promise<void> {
  const under = descendantsOf(stack.process.pid!);
  under.forEach((pid) => leftovers.add(pid));
  expect(under.length, 'processes under the dev stack (nats-server, KPC and what runs them)').toBeGreaterThanOrEqual(2);
  end(stack);
  const portsInUse = async () => {
    const { mqtt, http, nats } = stack.ports;
    const free = await Promise.all([isPortFree(mqtt, '0.0.0.0'), isPortFree(http, '0.0.0.0'), isPortFree(nats)]);
    return [mqtt, http, nats].filter((_, i) => !free[i]);
  };
  await waitUntil(async () => under.every((pid) => !isAlive(pid)) && (await portsInUse()).length === 0, 'every process under the dev stack gone and its ports free', {
    timeoutMs: 20_000,
    intervalMs: 100,
    detail: () => `still running: ${under.filter(isAlive).join(', ') || 'none'}\n${stack.output().slice(-2_000)}`,
  });
}

describe('npm run dev leaves nothing running', () => {
  it('when the dev stack itself is killed with SIGKILL', async () => {
    const stack = await startDevStack(process.execPath, ['dist-dev/dev/dev-stack.js']);
    await expectNothingLeftAfter(stack, ({ process: devStack }) => devStack.kill('SIGKILL'));
    // Its KPC lines were human-readable (pino-pretty), not raw JSON.
    expect(stack.output()).toMatch(/INFO: \[kpc\] KPC is ready/);
    expect(stack.output()).not.toMatch(/^\{"level"/m);
  });

  it('when npm gets SIGTERM (npm and its sh -c end without passing the signal on)', async () => {
    // --ignore-scripts: the real `npm run dev` process tree (npm → sh -c → node) without `predev`,
    // which would rebuild dist/ under the other tests' feet.
    const stack = await startDevStack('npm', ['run', 'dev', '--ignore-scripts']);
    await expectNothingLeftAfter(stack, ({ process: npm }) => npm.kill('SIGTERM'));
  });
});
