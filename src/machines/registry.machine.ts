// The process's supervisor, and its start and graceful shutdown. Every session actor's end
// arrives here as `session.finished`, and a session action that threw as `session.failed`, with
// the actor's id as data: event types come from a fixed set, because xstate memoizes transition
// candidates per event type for the machine's lifetime (one type per session would grow without
// bound). The sessions themselves live in maps owned by src/actors/registry/registry.ts, never in
// this machine's snapshot (it would not scale).
import { assign, fromPromise, setup } from 'xstate';

export interface RegistryInput {
  gracefulShutdownMs: number;
}

export interface RegistryContext extends RegistryInput {
  failedActors: number;
}

/** What the registry hears about one session actor. */
export type SessionReport =
  | { type: 'session.finished'; actorId: string }
  /** A session action threw: the actor is stopped and its `error` is what was thrown. */
  | { type: 'session.failed'; actorId: string; error: unknown };

export type RegistryEvent =
  | { type: 'nats.connected' }
  | { type: 'shutdown.requested'; signal: string }
  | SessionReport;

export const registryMachine = setup({
  types: {
    input: {} as RegistryInput,
    context: {} as RegistryContext,
    events: {} as RegistryEvent,
  },
  actions: {
    announceReady: () => {},
    stopAccepting: () => {},
    endAllSessions: () => {},
    reportShutdownTimeout: () => {},
    /** A session actor threw: close its connection, clean its routes, keep everything else running. */
    discardFailedActor: () => {},
    forgetActor: () => {},
    countFailure: assign({ failedActors: ({ context }) => context.failedActors + 1 }),
  },
  actors: {
    /** Resolves once every acknowledged message and ELCE event has reached NATS and NATS is drained. */
    drainOutbound: fromPromise<void>(async () => {}),
  },
  delays: {
    gracefulShutdown: ({ context }) => context.gracefulShutdownMs,
  },
}).createMachine({
  id: 'registry',
  context: ({ input }) => ({ ...input, failedActors: 0 }),
  initial: 'starting',
  on: {
    'session.failed': { actions: ['countFailure', 'discardFailedActor'] },
    'session.finished': { actions: 'forgetActor' },
  },
  states: {
    starting: {
      on: {
        'nats.connected': { target: 'running', actions: 'announceReady' },
        'shutdown.requested': 'stopped',
      },
    },
    running: {
      on: { 'shutdown.requested': 'draining' },
    },
    draining: {
      entry: ['stopAccepting', 'endAllSessions'],
      invoke: { id: 'drainOutbound', src: 'drainOutbound', onDone: 'stopped', onError: 'stopped' },
      after: { gracefulShutdown: { target: 'stopped', actions: 'reportShutdownTimeout' } },
    },
    stopped: { type: 'final' },
  },
});
