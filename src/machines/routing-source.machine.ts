// The Tekton routing source (17/SCMP): reads the applications tree at start, then re-fetches it on
// every configuration event and after a NATS reconnect. The chart decides when to fetch, when to
// retry and when to give up; src/infra/tekton/tekton-routing-source.ts runs the fetches (the two
// invoked actors), subscribes, logs and applies trees (the actions).
//
// - Start-up: the first fetch is retried with exponential backoff until kaa.tekton.timeout has
//   passed in total, keeping time for a last attempt of at least min(1 s, timeout/4); then the
//   source stops and start() fails.
// - Coalescing: one fetch at a time; events arriving meanwhile leave one re-fetch queued.
// - A failed re-fetch keeps the last good tree and is retried after a backoff; events arriving
//   while backing off do not bypass it (the retry fetches the latest tree anyway).
import { assign, fromPromise, setup } from 'xstate';

export interface BackoffSettings {
  /** Delay before the first retry (before jitter). */
  initialMs: number;
  /** The delay doubles after each failure up to this. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = { initialMs: 1_000, maxMs: 60_000 };

/**
 * The delay before retry number `attempt` (0 = the first retry): `initialMs · 2^attempt` capped at
 * `maxMs`, then jittered into [½, 1] of that so that replicas do not retry in lockstep.
 */
export function backoffDelay(attempt: number, settings: BackoffSettings, random: () => number = Math.random): number {
  const ceiling = Math.min(settings.maxMs, settings.initialMs * 2 ** Math.min(attempt, 52));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** Time kept for the last start-up attempt, so that retries stop before it is cut to nothing. */
export const lastAttemptMs = (timeoutMs: number): number => Math.min(1_000, timeoutMs / 4);

/** What the first fetch's actor rejects with. */
export interface StartupAttemptFailure {
  reason: string;
  /** What is left of kaa.tekton.timeout. */
  timeLeftMs: number;
}

export interface RoutingSourceInput {
  /** kaa.tekton.timeout: bounds start-up as a whole. */
  timeoutMs: number;
  backoff: BackoffSettings;
  /** Jitter source in [0, 1). */
  random: () => number;
}

export interface RoutingSourceContext extends RoutingSourceInput {
  /** A configuration event came while a fetch was running or before the first tree was handed over. */
  refetchQueued: boolean;
  /** Consecutive failed fetches (start-up attempts, then re-fetches): the backoff step. */
  failures: number;
  /** The delay before the retry scheduled after the last failure (jittered). */
  retryInMs: number;
}

export type RoutingSourceEvent =
  /** A 17/SCMP configuration event or a NATS reconnect: the tree may have changed. */
  | { type: 'configuration.changed'; trigger: string }
  | { type: 'stop' };

const failureOf = (error: unknown): StartupAttemptFailure => error as StartupAttemptFailure;

export const routingSourceMachine = setup({
  types: {
    input: {} as RoutingSourceInput,
    context: {} as RoutingSourceContext,
    events: {} as RoutingSourceEvent,
  },
  actions: {
    subscribeToEvents: () => {},
    unsubscribe: () => {},
    /** Resolves start() with the first tree. */
    handOverFirstTree: () => {},
    reportTektonNotReady: () => {},
    /** Rejects start(): no tree within kaa.tekton.timeout. */
    reportStartupFailure: () => {},
    /** Rejects start() if it is still waiting. */
    abandonStartup: () => {},
    /** Calls onChange when the tree differs from the last good one; clears the problem. */
    applyTree: () => {},
    /** Logs the failure and makes it the problem /health shows. */
    reportRefetchFailure: () => {},
    noteRetryScheduled: () => {},
    queueRefetch: assign({ refetchQueued: true }),
    takeQueuedRefetch: assign({ refetchQueued: false }),
    countFailure: assign({ failures: ({ context }) => context.failures + 1 }),
    /** The backoff, cut short so that the last attempt keeps its time. */
    planStartupRetry: assign({
      retryInMs: ({ context, event }) => Math.min(
        failureOf((event as { error?: unknown }).error).timeLeftMs - lastAttemptMs(context.timeoutMs),
        backoffDelay(context.failures - 1, context.backoff, context.random),
      ),
    }),
    planRefetchRetry: assign({ retryInMs: ({ context }) => backoffDelay(context.failures - 1, context.backoff, context.random) }),
    resetFailures: assign({ failures: 0 }),
  },
  actors: {
    fetchFirstTree: fromPromise<unknown>(async () => ({})),
    fetchTree: fromPromise<unknown>(async () => ({})),
  },
  guards: {
    refetchQueued: ({ context }) => context.refetchQueued,
    timeForAnotherAttempt: ({ context, event }) =>
      failureOf((event as { error?: unknown }).error).timeLeftMs > lastAttemptMs(context.timeoutMs),
  },
  delays: {
    retry: ({ context }) => context.retryInMs,
    /** After start() has handed over the first tree: its caller takes it before any change. */
    nextTurn: 0,
  },
}).createMachine({
  id: 'routingSource',
  context: ({ input }) => ({ ...input, refetchQueued: false, failures: 0, retryInMs: 0 }),
  // Subscribed before the first fetch: an event during it queues a re-fetch instead of being lost.
  entry: 'subscribeToEvents',
  initial: 'loading',
  on: { stop: { target: '.stopped', actions: 'abandonStartup' } },
  states: {
    loading: {
      invoke: {
        id: 'fetchFirstTree',
        src: 'fetchFirstTree',
        onDone: [
          { guard: 'refetchQueued', target: 'handingOver', actions: ['resetFailures', 'handOverFirstTree'] },
          { target: 'watching', actions: ['resetFailures', 'handOverFirstTree'] },
        ],
        onError: [
          { guard: 'timeForAnotherAttempt', target: 'waitingForTekton', actions: ['countFailure', 'planStartupRetry', 'reportTektonNotReady'] },
          { target: 'stopped', actions: 'reportStartupFailure' },
        ],
      },
      on: { 'configuration.changed': { actions: 'queueRefetch' } },
    },
    waitingForTekton: {
      after: { retry: 'loading' },
      on: { 'configuration.changed': { actions: 'queueRefetch' } },
    },
    handingOver: {
      after: { nextTurn: 'refetching' },
    },
    watching: {
      on: { 'configuration.changed': 'refetching' },
    },
    refetching: {
      entry: 'takeQueuedRefetch',
      invoke: {
        id: 'fetchTree',
        src: 'fetchTree',
        onDone: [
          { guard: 'refetchQueued', target: 'refetching', reenter: true, actions: ['applyTree', 'resetFailures'] },
          { target: 'watching', actions: ['applyTree', 'resetFailures'] },
        ],
        // Events that came meanwhile are served by the retry.
        onError: { target: 'backingOff', actions: ['countFailure', 'planRefetchRetry', 'takeQueuedRefetch', 'reportRefetchFailure'] },
      },
      on: { 'configuration.changed': { actions: 'queueRefetch' } },
    },
    backingOff: {
      after: { retry: 'refetching' },
      on: { 'configuration.changed': { actions: 'noteRetryScheduled' } },
    },
    stopped: {
      type: 'final',
      entry: 'unsubscribe',
    },
  },
});
