// The measuring window of the request/response generators (MQTT and HTTP): warm up, mark
// `WINDOW start`, measure, mark `WINDOW end`, let what is in flight finish, then report rates,
// latency percentiles and the CPU of this process and the watched ones over the window.
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMicros } from './proc-cpu.mjs';
import { percentile } from './stats.mjs';

const DRAIN_TIMEOUT_MS = 5_000;

function snapshot(watchPids) {
  const watched = {};
  for (const pid of watchPids) watched[pid] = cpuMicros(pid);
  return { at: performance.now(), cpu: process.cpuUsage(), watched };
}

/**
 * `setMeasuring(on)` switches the generator's counting; `stopSending()` ends its load; `outstanding()`
 * is what still waits for an answer. Resolves with the window's start and end snapshots.
 */
export async function measuredWindow({ warmup, seconds, watchPids }, { setMeasuring, stopSending, outstanding }) {
  await sleep(Number(warmup) * 1000);
  const start = snapshot(watchPids);
  setMeasuring(true);
  console.log('WINDOW start');
  await sleep(Number(seconds) * 1000);
  setMeasuring(false);
  const end = snapshot(watchPids);
  console.log('WINDOW end');
  stopSending();
  const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
  while (outstanding() > 0 && Date.now() < drainDeadline) await sleep(20);
  return { start, end };
}

/** The report's common fields: window length, rates of `counts`, latency percentiles (ms), CPU. */
export function windowReport({ start, end }, counts, latencies, watchPids) {
  const windowMs = end.at - start.at;
  const sorted = latencies.sorted();
  const r = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
  return {
    windowSeconds: windowMs / 1000,
    sentPerSec: (counts.sent * 1000) / windowMs,
    repliesPerSec: (counts.replies * 1000) / windowMs,
    errorsInWindow: counts.errors,
    latencyMs: { p50: r(percentile(sorted, 50)), p90: r(percentile(sorted, 90)), p99: r(percentile(sorted, 99)), max: r(percentile(sorted, 100)) },
    cpuPercent: ((end.cpu.user - start.cpu.user + end.cpu.system - start.cpu.system) / 10) / windowMs,
    watchedCpuUs: Object.fromEntries(watchPids.map((pid) => [pid, end.watched[pid] - start.watched[pid]])),
  };
}
