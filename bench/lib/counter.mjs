// Counts the ClientData a NATS server delivers on one subject (the extension side of the load),
// through bench/workers/counter.mjs in its own process.
import { spawnNode, stopChild, waitForLine } from './children.mjs';

export const CLIENT_DATA_SUBJECT = 'kaa.v1.service.bench.esp.ClientData';

let tags = 0;

export async function startCounter(natsUrl, subject = CLIENT_DATA_SUBJECT) {
  const child = spawnNode('counter', 'bench/workers/counter.mjs', ['--nats', natsUrl, '--subject', subject], { stdin: 'pipe' });
  await waitForLine(child, /^READY$/, 10_000, `starting the counter on ${natsUrl}`);
  return {
    pid: child.pid,
    /** The count now (a round trip through the counter's stdin and stdout: a few ms). */
    async count() {
      const tag = String(++tags);
      const line = waitForLine(child, new RegExp(`^COUNT ${tag} (\\d+)$`), 10_000, 'asking the counter');
      child.stdin.write(`COUNT ${tag}\n`);
      return Number((await line)[1]);
    },
    reset() {
      child.stdin.write('RESET\n');
    },
    close: () => stopChild(child, 5_000),
  };
}

/** Waits (≤ `ms`) until the counter reached `expected`; returns what it has. */
export async function receivedAtLeast(counter, expected, ms = 5_000) {
  const deadline = Date.now() + ms;
  let received = await counter.count();
  while (received < expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    received = await counter.count();
  }
  return received;
}
