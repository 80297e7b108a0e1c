// Scenario 6, soak: does memory grow with the connections ever served? R rounds (default 5) of N
// short-lived connections each (default 40 000: 200 000 in all), churned by bench/workers/churn.mjs
// (requests answered by an echo extension, bad passwords, refused tokens, abrupt closes,
// credential revocations; none left open). After each round the V8 heap of KPC is measured after a
// forced full GC, through the inspector (KPC runs with --inspect on 127.0.0.1: nothing in the
// service itself can force a GC). Round 1 warms up (compiled code, bounded caches filling); the
// scenario passes only when the last round's heap is within 5 % of the second round's, and
// `npm run bench` then exits non-zero if it does not.
import { spawnNode, stopChild, waitForLine } from '../lib/children.mjs';
import { freshSourceAddress } from '../lib/addresses.mjs';
import { openInspector } from '../lib/inspector.mjs';
import { rssKb } from '../lib/proc.mjs';
import { startWorker } from '../lib/servers.mjs';
import { check, fmt, table } from '../lib/report.mjs';

export const name = 'soak';
const TOLERANCE = 0.05;

export async function run(ctx) {
  const rounds = Number(ctx.opts['soak-rounds']);
  const perRound = Number(ctx.opts['soak-clients']);
  const users = Number(ctx.opts['soak-users']);
  const concurrency = Number(ctx.opts['soak-concurrency']);
  const kpc = await ctx.startKpc({ inspect: true, maxInFlight: 5_000 }, 'soak');
  const echo = await startWorker('echo-extension', 'bench/workers/echo-extension.mjs', ['--nats', ctx.nats.url, '--instance', 'bench']);
  const inspector = await openInspector(kpc.inspectPort);
  const measured = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const started = Date.now();
      const churn = spawnNode('churn', 'bench/workers/churn.mjs', [
        '--port', String(kpc.port), '--nats', ctx.nats.url, '--clients', String(perRound), '--first', String((round - 1) * perRound),
        '--users', String(users), '--concurrency', String(concurrency),
        '--local-address', [freshSourceAddress(), freshSourceAddress(), freshSourceAddress()].join(','),
      ]);
      const [, resultJson] = await waitForLine(churn, /^RESULT (.*)$/, perRound * 20 + 120_000, `soak round ${round}`);
      await stopChild(churn, 5_000);
      const result = JSON.parse(resultJson);
      await inspector.collectGarbage();
      const heapBytes = await inspector.heapUsed();
      const entry = { round, seconds: (Date.now() - started) / 1000, heapMb: heapBytes / 1e6, rssMb: rssKb(kpc.pid) / 1e3, ...result };
      measured.push(entry);
      ctx.log(`  soak round ${round}/${rounds}: ${perRound} connections in ${fmt(entry.seconds, 1)} s (${result.failed} failed${result.failed ? ` ${JSON.stringify(result.failures)}` : ''}); heap after forced GC ${fmt(entry.heapMb, 2)} MB, RSS ${fmt(entry.rssMb, 1)} MB`);
    }
  } finally {
    inspector.close();
    await echo.stop();
    await kpc.stop();
  }
  const second = measured[1]?.heapMb;
  const last = measured.at(-1)?.heapMb;
  const change = second === undefined ? null : (last - second) / second;
  const ok = change !== null && Math.abs(change) <= TOLERANCE;
  const total = rounds * perRound;
  return {
    summary: { rounds: measured, changeFromSecondRound: change },
    gate: true,
    checks: [check('soak', `heap after forced GC, last round within ${TOLERANCE * 100} % of round 2 (${total} connections)`,
      change === null ? 'needs 2 rounds or more' : `round 2 ${fmt(second, 2)} MB → round ${rounds} ${fmt(last, 2)} MB: ${change >= 0 ? '+' : ''}${fmt(change * 100, 1)} %`, ok)],
    markdown: `## 6. Soak: memory after ${total} connections

${rounds} rounds of ${perRound} short-lived connections (at most ${concurrency} at a time), one in five each: a request answered by the echo extension then DISCONNECT; a wrong password (CONNACK 4); a request on a token the provider refuses (\`/error\`), then RST; a request followed at once by RST; a request, then a 16/ECAP credential revocation that closes the connection. Heap is V8's after a forced full GC (inspector), after each round.

${table([{ title: 'round' }, { title: 'connections' }, { title: 'failed' }, { title: 'seconds' }, { title: 'heap after GC MB' }, { title: 'RSS MB' }],
  measured.map((m) => [m.round, m.clients, m.failed, fmt(m.seconds, 1), fmt(m.heapMb, 2), fmt(m.rssMb, 1)]))}

Last round vs round 2: **${change === null ? 'n/a' : `${change >= 0 ? '+' : ''}${fmt(change * 100, 1)} %`}** (limit ±${TOLERANCE * 100} %).
`,
  };
}
