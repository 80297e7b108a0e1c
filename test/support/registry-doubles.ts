// The parts of a live Registry's surroundings that tests of the actor system rarely look at:
// ELCE announcements, counters, logs and the composition root's hooks, all doing nothing.
import pino from 'pino';
import { Journal } from '../../src/actors/session/journal.js';
import type { RegistryHooks } from '../../src/actors/registry/registry.js';
import type { SessionHub } from '../../src/actors/session/client-session.js';

export function quietHubParts(): Pick<SessionHub, 'connectivity' | 'counters' | 'logger' | 'warnings' | 'newJournal'> {
  return {
    connectivity: { announceConnected: () => {}, announceDisconnected: () => {} },
    counters: { publishReceived: () => {}, kpError: () => {}, connection: () => {}, sessionEnded: () => {}, roamed: () => {} },
    logger: pino({ level: 'silent' }),
    warnings: { error: () => {} },
    newJournal: (machine, actorId) => new Journal(16, machine, actorId),
  };
}

export const idleRegistryHooks = (): RegistryHooks => ({
  announceReady: () => {}, stopAccepting: () => {}, drainOutbound: async () => {}, shutdownTimedOut: () => {},
});
