// The process's supervisor, and its start and graceful shutdown. Session actors are created
// with this actor as their parent, so their completion and their failures arrive here as
// `xstate.done.actor.*` and `xstate.error.actor.*` events. The sessions themselves live in maps
// owned by src/actors/registry/registry.ts, never in this machine's snapshot (it would not scale).
import { assign, fromPromise, setup, type DoneActorEvent, type ErrorActorEvent } from 'xstate';

export interface RegistryInput {
  gracefulShutdownMs: number;
}

export interface RegistryContext extends RegistryInput {
  failedActors: number;
}

export type RegistryEvent =
  | { type: 'nats.connected' }
  | { type: 'shutdown.requested'; signal: string }
  | ErrorActorEvent
  | DoneActorEvent;

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
    'xstate.error.actor.*': { actions: ['countFailure', 'discardFailedActor'] },
    'xstate.done.actor.*': { actions: 'forgetActor' },
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
