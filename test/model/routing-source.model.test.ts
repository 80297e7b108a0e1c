// The Tekton routing source chart as a test model, driven through the live TektonRoutingSource:
// Tekton answering or failing each fetch (the test holds every fetch and settles it), 17/SCMP
// events and NATS reconnects on a NATS double, the clock passing the retry delays, stop(). At
// every state we check the fetches in flight and their time budgets, what start() gave, the
// trees applied, the problem /health shows, the log, and the subscriptions.
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { StartupAttemptFailure } from '../../src/machines/routing-source.machine.js';
import type { Applications } from '../../src/infra/tekton/tekton-client.js';
import { TektonRoutingSource } from '../../src/infra/tekton/tekton-routing-source.js';
import { broadcastEvent, FakeScmpNats, recordingLogger } from '../support/fake-scmp-nats.js';
import { routingSourceInput, routingSourceModel, SCMP_BROADCAST_SUBJECT, TEKTON_TIMEOUT_MS } from './support/events.js';
import { generatePaths, type Params } from './support/paths.js';
import { ModelRun, type StateCheck, type Stimulus } from './support/run.js';

interface Fetch {
  timeoutMs: number;
  signal: AbortSignal;
  settled: boolean;
  resolve(applications: Applications): void;
  reject(error: Error): void;
}

/** A tree naming version `v<n>`: each answer differs from the one before. */
const treeNumber = (n: number): Applications => ({ app: { versions: { [`v${n}`]: { allowedExtensionInstances: ['dcx'] } } } });

class World {
  readonly run = new ModelRun(routingSourceModel);
  readonly clock = new SimulatedClock();
  readonly nats = new FakeScmpNats();
  readonly log = recordingLogger();
  readonly fetches: Fetch[] = [];
  readonly changes: Applications[] = [];
  readonly source: TektonRoutingSource;
  /** What start() gave: the first tree, or the error message. */
  startOutcome: { tree?: Applications; error?: string } | undefined;
  private answers = 0;

  constructor() {
    this.source = new TektonRoutingSource({
      url: 'http://tekton:8080',
      instanceName: 'kpc',
      timeoutMs: TEKTON_TIMEOUT_MS,
      nats: this.nats,
      logger: this.log.logger,
      undecodable: { report: () => {} }, // every event here decodes
      onChange: (applications) => this.changes.push(applications),
      backoff: routingSourceInput.backoff,
      random: routingSourceInput.random,
      clock: this.clock,
      now: () => this.clock.now(),
      fetchConfigs: (timeoutMs, signal) => new Promise((resolve, reject) => {
        const fetch: Fetch = { timeoutMs, signal, settled: false, resolve, reject };
        this.fetches.push(fetch);
      }),
    });
    this.source.start().then(
      (tree) => (this.startOutcome = { tree }),
      (error: Error) => (this.startOutcome = { error: error.message }),
    );
  }

  params(): Params {
    return this.run.params(this.stimuli(), this.checks(), (model) => {
      expect(this.source.state, 'live routing source state').toBe(model.value);
    });
  }

  private pending(): Fetch[] {
    return this.fetches.filter((fetch) => !fetch.settled);
  }

  private current(): Fetch {
    const [fetch, ...more] = this.pending();
    expect(fetch, 'a fetch is in flight').toBeDefined();
    expect(more, 'one fetch at a time').toEqual([]);
    fetch!.settled = true;
    return fetch!;
  }

  private answer(): void {
    this.answers++;
    this.current().resolve(treeNumber(this.answers));
  }

  private eventsOf(name: string): number {
    return this.log.lines.filter((line) => (line.fields as { event?: string }).event === name).length;
  }

  private stimuli(): Record<string, Stimulus> {
    const retryDelay = () => this.clock.increment(this.run.previous!.context.retryInMs as number);
    return {
      'xstate.done.actor.fetchFirstTree': () => this.answer(),
      'xstate.error.actor.fetchFirstTree': (event: { error: StartupAttemptFailure }) => {
        // Spend what is left of kaa.tekton.timeout first when the model says it is spent.
        if (event.error.timeLeftMs === 0) this.clock.increment(this.fetches.at(-1)!.timeoutMs);
        this.current().reject(new Error('Tekton at X cannot be reached: ECONNREFUSED'));
      },
      'xstate.after.retry.routingSource.waitingForTekton': retryDelay,
      'xstate.after.nextTurn.routingSource.handingOver': () => this.clock.increment(0),
      'xstate.done.actor.fetchTree': () => this.answer(),
      'xstate.error.actor.fetchTree': () => this.current().reject(new Error('Tekton at X answered HTTP 500')),
      'xstate.after.retry.routingSource.backingOff': retryDelay,
      'configuration.changed': (event: { trigger: string }) => {
        if (event.trigger === SCMP_BROADCAST_SUBJECT) this.nats.deliver(SCMP_BROADCAST_SUBJECT, broadcastEvent());
        else this.nats.listeners[0]!.onNatsReconnected();
      },
      stop: () => this.source.stop(),
    };
  }

  private checks(): Record<string, StateCheck> {
    const { run, nats } = this;
    const subscribed = () => expect(nats.handlers.size - nats.unsubscribed.length, 'subscribed to the four 17/SCMP subjects').toBe(4);
    const started = () => {
      expect(this.startOutcome?.tree, 'start() gave the first answer').toEqual(treeNumber(1));
      expect(this.changes, 'every later answer differs and is applied').toEqual(
        Array.from({ length: this.answers - 1 }, (_, i) => treeNumber(i + 2)),
      );
    };
    return {
      loading: () => {
        subscribed();
        expect(this.startOutcome).toBeUndefined();
        expect(this.pending()).toHaveLength(1);
        // Each attempt gets what is left of kaa.tekton.timeout.
        expect(this.pending()[0]!.timeoutMs).toBe(TEKTON_TIMEOUT_MS - this.clock.now());
        expect(this.eventsOf('tekton.fetch.failed'), 'each failed attempt logged').toBe(run.entries('waitingForTekton'));
      },
      waitingForTekton: () => {
        subscribed();
        expect(this.startOutcome).toBeUndefined();
        expect(this.pending()).toEqual([]);
        expect(this.eventsOf('tekton.fetch.failed')).toBe(run.entries('waitingForTekton'));
      },
      handingOver: () => {
        subscribed();
        started();
        expect(this.pending(), 'the queued re-fetch waits for start()\'s caller').toEqual([]);
      },
      watching: () => {
        subscribed();
        started();
        expect(this.pending()).toEqual([]);
        expect(this.source.problem).toBeUndefined();
      },
      refetching: () => {
        subscribed();
        started();
        expect(this.pending()).toHaveLength(1);
        expect(this.pending()[0]!.timeoutMs, 'a re-fetch gets the whole kaa.tekton.timeout').toBe(TEKTON_TIMEOUT_MS);
      },
      backingOff: () => {
        subscribed();
        started();
        expect(this.pending()).toEqual([]);
        expect(this.source.problem).toMatch(/^Tekton configuration re-fetch failing since .*: Tekton at X answered HTTP 500$/);
        expect(this.eventsOf('tekton.refetch.failed')).toBe(run.entries('backingOff'));
      },
      stopped: () => {
        expect(nats.unsubscribed, 'unsubscribed from everything').toHaveLength(4);
        expect(this.pending().every((fetch) => fetch.signal.aborted), 'a fetch in flight is aborted').toBe(true);
        const cameFrom = run.cameFrom;
        if (cameFrom === 'loading' || cameFrom === 'waitingForTekton') {
          expect(this.startOutcome?.error).toBe(run.lastEvent!.type === 'stop'
            ? 'stopped while reading the application configurations from Tekton at http://tekton:8080/api/v1/service-instances/kpc/app-configs'
            : 'cannot read the application configurations from Tekton at http://tekton:8080/api/v1/service-instances/kpc/app-configs' +
              ` within ${TEKTON_TIMEOUT_MS} ms (kaa.tekton.timeout): Tekton at X cannot be reached: ECONNREFUSED`);
        } else {
          started();
        }
        // Nothing runs any more: no retry, no re-fetch on events.
        const fetches = this.fetches.length;
        this.clock.increment(120_000);
        nats.listeners[0]!.onNatsReconnected();
        expect(this.fetches).toHaveLength(fetches);
      },
    };
  }
}

describe('Tekton routing source chart, driven through the live TektonRoutingSource', () => {
  for (const path of generatePaths(routingSourceModel).paths) {
    it(path.description, async () => {
      await path.test(new World().params());
    });
  }
});
