// `npm run replay -- <journal.json>`: replays a session journal, as GET /sessions/{id}/journal
// downloads it, through the state charts, offline. Every step is printed (time, event, the state
// recorded, the state the chart reaches); the command exits 1 naming the first step where they
// differ, 2 when the file cannot be read as a journal, 0 when every step matches.
//
// It uses the charts and the fold of the build (dist/), which `npm run replay` builds first, so it
// works on a fresh clone after `npm ci`. It is a tool, not part of the service: nothing in src/ imports it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = join(import.meta.dirname, '..');
const load = (path) => import(pathToFileURL(join(root, 'dist', path)).href);

const file = process.argv[2];
if (file === undefined) fail(2, 'usage: npm run replay -- <journal.json>  (from GET /sessions/{mqttClientId}/journal)');

let journal;
try {
  journal = JSON.parse(readFileSync(file, 'utf8'));
} catch (error) {
  fail(2, `${file}: ${error.message}`);
}
if (journal?.format !== 'kpc-session-journal/1' || typeof journal.client !== 'object' || !Array.isArray(journal.endpoints)) {
  fail(2, `${file}: not a KPC session journal (expected "format": "kpc-session-journal/1" with "client" and "endpoints")`);
}

const { replayJournal } = await load('actors/session/journal.js');
const { clientSessionMachine } = await load('machines/client-session.machine.js');
const { endpointSessionMachine } = await load('machines/endpoint-session.machine.js');
const { httpSessionMachine } = await load('machines/http-session.machine.js');
const machines = new Map([clientSessionMachine, endpointSessionMachine, httpSessionMachine].map((machine) => [machine.id, machine]));

console.log(`session ${journal.mqttClientId}: ${journal.state} (${1 + journal.endpoints.length} journals)`);
for (const record of [journal.client, ...journal.endpoints]) {
  const machine = machines.get(record?.machine);
  if (machine === undefined || !Array.isArray(record.entries)) fail(2, `${file}: ${record?.actorId ?? 'a journal'} names no known chart (${record?.machine})`);
  const from = record.base === null ? 'its start' : `a base snapshot in ${JSON.stringify(record.base.value)} (${record.dropped} older entries dropped)`;
  console.log(`\n${record.machine} ${record.actorId}, from ${from}`);
  const outcome = replayJournal(machine, record, ({ index, entry, replayed, matches }) => {
    const times = entry.repeat === undefined ? '' : ` ×${entry.repeat}`;
    const verdict = matches ? 'ok' : `DIFFERS: chart reaches ${JSON.stringify(replayed)}`;
    console.log(`  #${index}  ${new Date(entry.at).toISOString()}  ${describe(entry.event)}${times}  → ${JSON.stringify(entry.state)}  ${verdict}`);
  });
  if (!outcome.ok) fail(1, `${record.actorId} step #${outcome.failed.index} (${outcome.failed.entry?.event?.type}): ${outcome.reason}`);
}
console.log('\nevery step replays to the state recorded');

/** The event's type and its fields, one line. */
function describe(event) {
  const { type, ...fields } = event;
  const shown = Object.entries(fields).map(([key, value]) => `${key}=${JSON.stringify(value)}`).join(' ');
  return shown === '' ? type : `${type} ${shown}`;
}

function fail(code, message) {
  console.error(`replay: ${message}`);
  process.exit(code);
}
