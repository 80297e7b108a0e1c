// `node dist-dev/dev/tether.js [--grace-ms N] -- COMMAND ARGS…`: runs COMMAND as a child that cannot
// outlive whoever started the tether. The starter keeps the tether's stdin open (a pipe); when the
// starter ends in any way, SIGKILL included, the kernel closes that pipe, the tether reads EOF and
// stops COMMAND (SIGTERM, then SIGKILL after the grace time). Linux's PR_SET_PDEATHSIG would do this
// for a direct child, but Node cannot set it, and nats-server does not watch its parent itself.
//
// Signals sent to the tether (SIGTERM, SIGINT, SIGHUP) are passed on to COMMAND, and the tether exits
// as COMMAND did, so a starter can treat it as COMMAND itself. DEVELOPMENT ONLY (the dev stack).
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

const separator = process.argv.indexOf('--');
const graceFlag = process.argv.indexOf('--grace-ms');
const graceMs = graceFlag > 0 && graceFlag < separator ? Number(process.argv[graceFlag + 1]) : 10_000;
const [command, ...args] = separator < 0 ? [] : process.argv.slice(separator + 1);
if (command === undefined) {
  console.error('usage: node tether.js [--grace-ms N] -- COMMAND [ARGS…]');
  process.exit(2);
}

// COMMAND gets no stdin: the pipe is the tether's, and only its end matters.
const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
child.once('error', (error) => {
  console.error(`tether: cannot start ${command}: ${error.message}`);
  process.exit(127);
});
child.once('exit', (code, signal) => {
  // Exit as the child did (a signal death as 128 + its number, as a shell reports it).
  process.exit(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
});

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));

function starterGone(): void {
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
}
process.stdin.on('end', starterGone);
process.stdin.on('error', starterGone);
process.stdin.resume();
