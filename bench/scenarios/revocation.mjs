// Scenario 5, revocation latency under load: N clients (default 10 000) connected with distinct
// credentials (bench-<i>, whose credentialId the dev provider gives as cred-bench-<i>), each having
// published once (so its endpoint session is identified too); then, one at a time, R of them
// (default 200, spread evenly) are revoked by a 16/ECAP ClientCredentialRevokedEvent on
// kaa.v1.events.cm.client.credential.revoked. The generator process that holds the sockets
// publishes each event itself and measures from just before the publish to its socket's close.
import { spawnNode, stopChild, waitForLine } from '../lib/children.mjs';
import { freshSourceAddress } from '../lib/addresses.mjs';
import { check, fmt, table } from '../lib/report.mjs';

export const name = 'revocation';

export async function run(ctx) {
  const count = Number(ctx.opts['revocation-clients']);
  const revocations = Number(ctx.opts.revocations);
  const timeoutSeconds = Math.round(Number(ctx.opts['idle-timeout']) + count / 500);
  const kpc = await ctx.startKpc({ maxInFlight: 5_000, maxConnections: count + 1_000, fileLimit: count + 1_000 }, 'revocation');
  let generator;
  try {
    generator = spawnNode('revoker', 'bench/workers/connections.mjs', [
      '--port', String(kpc.port), '--clients', String(count), '--concurrency', ctx.opts['idle-concurrency'], '--publish', '--mode', 'revoke',
      '--nats', ctx.nats.url, '--revocations', String(revocations), '--local-address', freshSourceAddress(), '--timeout', String(timeoutSeconds),
    ], { fileLimit: count + 1_000 });
    const [, connectedJson] = await waitForLine(generator, /^CONNECTED (.*)$/, (timeoutSeconds + 30) * 1000, 'connecting the revocation clients');
    const connected = JSON.parse(connectedJson);
    ctx.log(`  revocation: ${connected.done}/${count} clients connected and published in ${fmt(connected.doneSpanMs / 1000, 1)} s${connected.failed ? `, ${connected.failed} failed ${JSON.stringify(connected.reasons)}` : ''}; revoking ${revocations}`);
    const [, resultJson] = await waitForLine(generator, /^RESULT (.*)$/, revocations * 6_000 + 30_000, 'revoking');
    const result = JSON.parse(resultJson);
    ctx.log(`  revocation: ${result.closed}/${result.revoked} closed, p50 ${fmt(result.latencyMs.p50, 2)} ms, p99 ${fmt(result.latencyMs.p99, 2)} ms, max ${fmt(result.latencyMs.max, 2)} ms` +
      `${result.notClosedInTime ? `, ${result.notClosedInTime} not closed within 5 s` : ''}${result.otherClientsClosed ? `, ${result.otherClientsClosed} other clients closed` : ''}`);
    const summary = { clients: count, connected: connected.done, connectFailures: connected.reasons, ...result };
    const ok = result.latencyMs.p99 !== null && result.latencyMs.p99 <= 100 && result.notClosedInTime === 0 && connected.done === count;
    return {
      summary,
      checks: [check('revocation', `p99 ≤ 100 ms from revocation event to socket close, at ${count} clients`,
        `p99 ${fmt(result.latencyMs.p99, 2)} ms (p50 ${fmt(result.latencyMs.p50, 2)} ms), ${result.closed}/${result.revoked} closed, ${connected.done}/${count} connected`, ok)],
      markdown: `## 5. Revocation latency

${count} clients connected with distinct credentials (each also published once, so its endpoint is identified), then ${revocations} of them, spread evenly, revoked one at a time (${10} ms apart): the generator holding the sockets publishes the ClientCredentialRevokedEvent (\`kaa.v1.events.cm.client.credential.revoked\`, credentialId \`cred-bench-<i>\`) and measures until that client's socket is closed by KPC (FIN or RST). A revocation not followed by a close within 5 s counts as not closed.

**p50 ${fmt(result.latencyMs.p50, 2)} ms, p99 ${fmt(result.latencyMs.p99, 2)} ms** (${result.closed}/${result.revoked} closed; ${connected.done}/${count} clients connected).

${table([{ title: 'clients connected' }, { title: 'revoked' }, { title: 'closed' }, { title: 'not closed in 5 s' }, { title: 'other clients closed' }, { title: 'min ms' }, { title: 'p50 ms' }, { title: 'p90 ms' }, { title: 'p99 ms' }, { title: 'max ms' }, { title: 'connect failures', align: 'l' }],
  [[connected.done, result.revoked, result.closed, result.notClosedInTime, result.otherClientsClosed, fmt(result.latencyMs.min, 2), fmt(result.latencyMs.p50, 2), fmt(result.latencyMs.p90, 2), fmt(result.latencyMs.p99, 2), fmt(result.latencyMs.max, 2), Object.keys(connected.reasons).length ? JSON.stringify(connected.reasons) : '–']])}
`,
    };
  } finally {
    if (generator) await stopChild(generator, 5_000);
    await kpc.stop();
  }
}
