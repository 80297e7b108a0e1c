// Runs a request/response generator (bench/workers/request-response.mjs over MQTT,
// http-request-response.mjs over HTTP) and turns its JSON line into a table row: rates, latency
// percentiles, CPU per request of the watched processes.
import { spawnNode, stopChild, waitForLine } from './children.mjs';

/** `watch`: { kpc, echo, nats } pids. */
export async function runRoundTripGenerator(label, script, args, { warmup, seconds }, watch) {
  const generator = spawnNode(label, script, [...args, ...Object.values(watch).flatMap((pid) => ['--watch-pid', String(pid)])]);
  try {
    const [line] = await waitForLine(generator, /^\{.*\}$/, (Number(warmup) + Number(seconds) + 60) * 1000, `running ${label}`);
    const result = JSON.parse(line);
    const requests = result.repliesPerSec * result.windowSeconds;
    const cpu = (pid) => result.watchedCpuUs[pid] / requests;
    return {
      sentPerSec: Math.round(result.sentPerSec),
      repliesPerSec: Math.round(result.repliesPerSec),
      errors: result.errorsInWindow,
      ...result.latencyMs,
      kpcCpuUsPerRequest: cpu(watch.kpc),
      echoCpuUsPerRequest: cpu(watch.echo),
      natsCpuUsPerRequest: cpu(watch.nats),
      kpcCpuPercent: result.watchedCpuUs[watch.kpc] / 1e4 / result.windowSeconds,
      loadgenCpuPercent: result.cpuPercent,
      outstandingAtEnd: result.totals.outstandingAtEnd,
    };
  } finally {
    await stopChild(generator, 5_000);
  }
}
