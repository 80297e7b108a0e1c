// The primary process when `kaa.kpc.workers` is above 1: it holds no client and no NATS
// connection. It forks the workers (each a full replica behind the shared listeners), replaces
// those that die, serves the one management port by asking every worker over IPC, and on
// SIGTERM/SIGINT forwards the signal and exits once every worker has drained.
import { AggregatorRegistry, Registry as MetricsRegistry, Counter, Gauge } from 'prom-client';
import type { KpcConfig } from '../infra/config/types.js';
import { createManagementApp, type HealthReport } from '../infra/http/management-app.js';
import { startManagementServer } from '../infra/http/management-server.js';
import type { Logger } from '../infra/logger.js';
import { WorkerAsker } from '../infra/workers/ipc.js';
import { WorkerPool, type WorkerSlot } from '../infra/workers/worker-pool.js';
import { serverCertificatePem } from './management.js';
import { CONFIGURATION_EXIT_CODE } from './startup-checks.js';

/** How long the primary waits for a worker's answer before reporting it as not answering. */
const ASK_TIMEOUT_MS = 3_000;
/** Beyond the workers' own graceful-shutdown deadline (after which they exit 1 themselves). */
const KILL_MARGIN_MS = 5_000;

export async function runPrimary(config: KpcConfig, logger: Logger): Promise<void> {
  const asker = new WorkerAsker();
  const own = new MetricsRegistry();
  const restarts = new Counter({ name: 'kpc_worker_restarts_total', help: 'Worker processes that died and were replaced', registers: [own] });
  let pool: WorkerPool | undefined;
  new Gauge({ name: 'kpc_workers_running', help: 'Worker processes running', registers: [own], collect() { this.set(pool?.running.length ?? 0); } });

  pool = new WorkerPool({
    count: config.kpc.workers,
    baseReplicaId: config.service.replicaId,
    logger,
    onFork: (slot) => asker.attach(slot.worker),
    onDied: (dead, survivors) => {
      // A worker that cannot start for a reason an operator must fix (it logged which key) would
      // only fail again: stop everything with the same exit code instead of restarting it forever.
      if (dead.code === CONFIGURATION_EXIT_CODE) return stop('configuration', CONFIGURATION_EXIT_CODE);
      restarts.inc();
      // A survivor knows from its cluster table what the dead worker held and announces it.
      const survivor = survivors[0];
      if (survivor === undefined) return;
      asker.ask<number>(survivor.worker, 'siblingDied', [dead.replicaId], ASK_TIMEOUT_MS).catch((error: Error) =>
        logger.warn({ event: 'worker.gone', replica: dead.replicaId, err: error.message }, 'could not announce a dead worker’s endpoints; the other replicas will declare it gone'),
      );
    },
  });
  const workers = pool;
  let stopping = false;

  /** Asks every running worker; a worker that fails or is slow to answer is left out. */
  const askAll = async <T>(kind: string, args: unknown[] = []) =>
    Promise.all(workers.running.map((slot) => asker.ask<T>(slot.worker, kind, args, ASK_TIMEOUT_MS).then((answer) => ({ slot, answer }), () => undefined)))
      .then((answers) => answers.filter((a): a is { slot: WorkerSlot; answer: T } => a !== undefined));

  const health = async (): Promise<HealthReport> => {
    const problems: string[] = stopping ? ['service is stopping'] : [];
    const components: Record<string, string> = {};
    await Promise.all(
      workers.slots.map(async (slot) => {
        const name = `worker ${slot.index} (${slot.replicaId})`;
        const report = await asker.ask<HealthReport>(slot.worker, 'health', [], ASK_TIMEOUT_MS).catch((error: Error) => error);
        if (report instanceof Error) {
          problems.push(`${name}: ${report.message}`);
          components[`worker-${slot.index}`] = 'DOWN';
          return;
        }
        problems.push(...report.problems.map((problem) => `${name}: ${problem}`));
        components[`worker-${slot.index}`] = report.problems.length === 0 ? 'UP' : 'DOWN';
        // A shared component (nats, a listener) is UP only when it is UP in every worker.
        for (const [component, state] of Object.entries(report.components)) {
          if (components[component] !== 'DOWN') components[component] = state;
        }
      }),
    );
    return { problems, components };
  };

  const metrics = {
    contentType: own.contentType,
    async metrics() {
      const perWorker = await askAll<WorkerMetrics>('metrics');
      const aggregated = AggregatorRegistry.aggregate([...perWorker.map(({ answer }) => answer), await own.getMetricsAsJSON()]);
      return aggregated.metrics();
    },
  };

  const { adminToken } = config.server;
  const app = createManagementApp({
    health,
    metrics,
    admin: adminToken === undefined ? undefined : { token: adminToken, sessions: () => sessionsAcrossWorkers(askAll) },
    serverCertificatePem: serverCertificatePem(config),
  });
  const http = await startManagementServer(app, config.server.port, config.server.host);
  workers.start();

  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop(signal));

  /** Drains every worker; exits with `exitCode`, or with the workers' verdict (0 when all exited 0). */
  function stop(reason: NodeJS.Signals | 'configuration', exitCode?: number): void {
    if (stopping) return;
    stopping = true;
    logger.info({ reason, event: 'service.stopping' }, 'stopping: draining every worker');
    void workers.shutdown('SIGTERM', config.service.gracefulShutdownMs + KILL_MARGIN_MS).then((code) => {
      http.close();
      logger.info({ event: 'service.stopped', code: exitCode ?? code }, 'every worker stopped');
      process.exit(exitCode ?? code);
    });
  }
}

type WorkerMetrics = Awaited<ReturnType<MetricsRegistry['getMetricsAsJSON']>>;

type AskAll = <T>(kind: string, args?: unknown[]) => Promise<Array<{ slot: WorkerSlot; answer: T }>>;

interface Summary {
  endedAt?: string;
}

/** Session inspection across workers: each answer is tagged with the replica id of its worker. */
function sessionsAcrossWorkers(askAll: AskAll) {
  const tagged = <T extends object>({ slot, answer }: { slot: WorkerSlot; answer: T }) => ({ ...answer, replicaId: slot.replicaId });
  return {
    async inspectSessions() {
      const answers = await askAll<{ live: Summary[]; ended: Summary[] }>('inspectSessions');
      const each = (list: 'live' | 'ended') => answers.flatMap(({ slot, answer }) => answer[list].map((summary) => tagged({ slot, answer: summary })));
      return { live: each('live'), ended: each('ended') };
    },
    async inspectSession(mqttClientId: string) {
      const found = (await askAll<Summary | null>('inspectSession', [mqttClientId])).filter(
        (a): a is { slot: WorkerSlot; answer: Summary } => a.answer !== null,
      );
      // The live session if a worker has one, else the most recently ended.
      const best = found.find((a) => a.answer.endedAt === undefined) ?? found.sort((a, b) => (b.answer.endedAt! > a.answer.endedAt! ? 1 : -1))[0];
      return best === undefined ? undefined : tagged(best);
    },
    /** The worker that has (or had) the session answers, its journal unchanged (for `npm run replay`). */
    async sessionJournal(mqttClientId: string) {
      return (await askAll<unknown>('sessionJournal', [mqttClientId])).find((a) => a.answer !== null)?.answer;
    },
    async inspectEndpoint(endpointId: string) {
      const answers = await askAll<{ heldHere: boolean; replicaId: string | null; sessions: object[] }>('inspectEndpoint', [endpointId]);
      const holder = answers.find((a) => a.answer.heldHere);
      return {
        endpointId,
        heldHere: holder !== undefined,
        replicaId: holder?.answer.replicaId ?? null,
        sessions: answers.flatMap(({ slot, answer }) => answer.sessions.map((session) => tagged({ slot, answer: session }))),
      };
    },
    async disconnectByAdmin(mqttClientId: string) {
      return (await askAll<boolean>('disconnectByAdmin', [mqttClientId])).some((a) => a.answer);
    },
  };
}
