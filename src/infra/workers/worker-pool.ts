// The primary's workers (kaa.kpc.workers > 1): node:cluster forks them, and every listener a worker
// opens is shared through the primary, so each transport keeps one port. Each worker is a full
// replica with its own replica id: `{id}-w{n}`, and `{id}-w{n}-r{k}` for its k-th replacement (a
// fresh id, so the dead one's heartbeats stop and the cluster's usual rules apply to it).
// A worker that dies is replaced after a back-off; shutdown forwards the signal to every worker.
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

export interface WorkerSlot {
  /** 1-based, stable across replacements. */
  readonly index: number;
  replicaId: string;
  worker: Worker;
  restarts: number;
  startedAt: number;
}

export interface WorkerPoolOptions {
  count: number;
  baseReplicaId: string;
  logger: Logger;
  /** Called with each new worker process (first start and replacements). */
  onFork(slot: WorkerSlot): void;
  /** A worker died outside shutdown (exit `code`, null when killed by a signal); `survivors` are the workers still running. */
  onDied(dead: { index: number; replicaId: string; code: number | null }, survivors: WorkerSlot[]): void;
}

/** Replacement back-off: doubles from 0.5 s up to 30 s for a worker that keeps dying young. */
const FIRST_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that lived this long counts as healthy again: its next death restarts it quickly. */
const STABLE_AFTER_MS = 30_000;

export class WorkerPool {
  readonly slots: WorkerSlot[] = [];
  private stopping = false;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private readonly quickDeaths = new Map<number, number>();

  constructor(private readonly options: WorkerPoolOptions) {}

  start(): void {
    for (let index = 1; index <= this.options.count; index++) this.fork(index, 0);
  }

  /** Workers whose process is running and connected to us. */
  get running(): WorkerSlot[] {
    return this.slots.filter((slot) => slot.worker.isConnected() && !slot.worker.isDead());
  }

  /**
   * Forwards `signal` to every worker and resolves with 0 once all exited 0, or 1 if one did not
   * (or was still running `deadlineMs` later and had to be killed).
   */
  shutdown(signal: NodeJS.Signals, deadlineMs: number): Promise<number> {
    this.stopping = true;
    this.restartTimers.forEach(clearTimeout);
    const exits = this.slots.map(
      ({ worker }) =>
        new Promise<number>((resolve) => {
          if (worker.isDead()) return resolve(worker.process.exitCode ?? 1);
          worker.once('exit', (code) => resolve(code ?? 1));
          worker.process.kill(signal);
        }),
    );
    const deadline = setTimeout(() => this.slots.forEach(({ worker }) => worker.isDead() || worker.process.kill('SIGKILL')), deadlineMs);
    return Promise.all(exits).then((codes) => {
      clearTimeout(deadline);
      return codes.every((code) => code === 0) ? 0 : 1;
    });
  }

  private fork(index: number, restarts: number): void {
    const replicaId = restarts === 0 ? `${this.options.baseReplicaId}-w${index}` : `${this.options.baseReplicaId}-w${index}-r${restarts}`;
    // The worker reads the same configuration; its replica id comes as the usual env override.
    const worker = cluster.fork({ SERVICE_INSTANCE_REPLICA_ID: replicaId });
    const slot: WorkerSlot = { index, replicaId, worker, restarts, startedAt: Date.now() };
    const at = this.slots.findIndex((s) => s.index === index);
    if (at === -1) this.slots.push(slot);
    else this.slots[at] = slot;
    this.options.logger.info({ event: 'worker.started', worker: index, replica: replicaId, pid: worker.process.pid }, 'worker started');
    this.options.onFork(slot);
    worker.once('exit', (code, signal) => this.exited(slot, code, signal));
  }

  private exited(slot: WorkerSlot, code: number | null, signal: string | null): void {
    if (this.stopping) return;
    const lived = Date.now() - slot.startedAt;
    const quickDeaths = lived >= STABLE_AFTER_MS ? 0 : (this.quickDeaths.get(slot.index) ?? 0) + 1;
    this.quickDeaths.set(slot.index, quickDeaths);
    const delayMs = quickDeaths === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** (quickDeaths - 1));
    this.options.logger.error(
      { event: 'worker.died', worker: slot.index, replica: slot.replicaId, pid: slot.worker.process.pid, code, signal, restartInMs: delayMs },
      'worker died; replacing it',
    );
    this.options.onDied({ index: slot.index, replicaId: slot.replicaId, code }, this.running);
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (!this.stopping) this.fork(slot.index, slot.restarts + 1);
    }, delayMs);
    this.restartTimers.add(timer);
  }
}
