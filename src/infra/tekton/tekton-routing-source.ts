// 17/SCMP: keeps this replica's applications tree in step with Tekton. It fetches at
// start, and again on every configuration event that concerns this service instance:
//   broadcast  kaa.v1.events.*.service.configuration.{upsert|delete}          (BroadcastConfigurationUpdateEvent)
//   targeted   kaa.v1.service.{instance}.scmp.configuration.{upsert|delete}   (ServiceSpecificConfigurationUpdateEvent)
// and after a NATS reconnect (events may have been missed while disconnected).
//
// Rules:
// - Any event triggers a re-fetch, whatever tenant / app / version it names: a fetch is cheap and
//   always returns the whole tree. An event whose payload does not decode is logged (warn) and
//   still triggers a re-fetch: its subject alone says the configuration changed.
// - Coalescing: at most one fetch in flight; events arriving meanwhile leave one re-fetch queued,
//   which runs when the fetch ends. A burst of N events costs at most two fetches.
// - A failed re-fetch keeps the last good tree, is logged (warn), becomes `problem` (shown by
//   /health) and is retried with exponential backoff and jitter. Events arriving while a retry is
//   scheduled do not bypass the backoff: the scheduled retry fetches the latest tree anyway.
//   A success clears the problem and resets the backoff.
// - `onChange` is called only when the fetched tree differs from the last good one.
// - Start-up keeps trying (with the same backoff) until `timeoutMs` has passed in total (each
//   attempt gets what is left; the last one at least min(1 s, timeoutMs/4)), then throws an error
//   naming Tekton's URL and the last attempt's reason.
// The decisions (when to fetch, retry, give up) are the chart's, src/machines/routing-source.machine.ts;
// this adapter runs its actor and implements its fetches and actions.
import type { Subscription } from 'nats';
import type { Logger } from 'pino';
import { createActor, fromPromise, type Actor } from 'xstate';
import {
  DEFAULT_BACKOFF, routingSourceMachine, type BackoffSettings, type RoutingSourceEvent, type StartupAttemptFailure,
} from '../../machines/routing-source.machine.js';
import { codecs } from '../nats/codecs.js';
import type { NatsLink } from '../nats/connection.js';
import { subjects, type ScmpAction } from '../nats/subjects.js';
import type { UndecodableMessages } from '../nats/undecodable-messages.js';
import { appConfigsUrl, fetchAppConfigs, redactUrl, type Applications } from './tekton-client.js';

export { backoffDelay, DEFAULT_BACKOFF, type BackoffSettings } from '../../machines/routing-source.machine.js';

/** A stable text form of a tree (keys and lists sorted), to tell a real change from a repeat. */
export function canonicalApplications(applications: Applications): string {
  const sorted = Object.keys(applications)
    .sort()
    .map((app) => {
      const versions = applications[app]!.versions;
      return [app, Object.keys(versions).sort().map((version) => [version, [...versions[version]!.allowedExtensionInstances].sort()])];
    });
  return JSON.stringify(sorted);
}

export interface TektonRoutingSourceOptions {
  /** kaa.tekton.url (the base URL). */
  url: string;
  /** service.instance.name: names the app-configs resource and the targeted event subject. */
  instanceName: string;
  /** kaa.tekton.timeout: bounds each fetch, and start-up as a whole. */
  timeoutMs: number;
  nats: Pick<NatsLink, 'subscribe' | 'addListener'>;
  logger: Logger;
  /** Counts and logs (rate-limited) 17/SCMP events that do not decode: anyone on the bus may send them. */
  undecodable: Pick<UndecodableMessages, 'report'>;
  /** Called with each new tree after start() (never with the one start() returns, never twice with the same). */
  onChange(applications: Applications): void;
  backoff?: BackoffSettings;
  /** For tests: replaces the HTTP fetch. */
  fetchConfigs?: (timeoutMs: number, signal: AbortSignal) => Promise<Applications>;
  /** For tests: jitter source in [0, 1). */
  random?: () => number;
  /** For tests: the timers of the chart (xstate's clock), and the time that bounds start-up. */
  clock?: { setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown; clearTimeout(id: unknown): void };
  now?: () => number;
}

export class TektonRoutingSource {
  /** The app-configs URL (credentials removed), for messages. */
  readonly shownUrl: string;
  private readonly opts: TektonRoutingSourceOptions;
  private readonly fetchConfigs: (timeoutMs: number, signal: AbortSignal) => Promise<Applications>;
  private readonly actor: Actor<typeof routingSourceMachine>;
  private readonly subscriptions: Subscription[] = [];
  private startup?: { resolve(applications: Applications): void; reject(error: Error): void; deadline: number };
  private failingSince?: Date;
  private lastFailure?: string;
  private lastGood?: string;

  constructor(opts: TektonRoutingSourceOptions) {
    this.opts = opts;
    const url = appConfigsUrl(opts.url, opts.instanceName);
    this.shownUrl = redactUrl(url);
    this.fetchConfigs = opts.fetchConfigs ?? ((timeoutMs, signal) => fetchAppConfigs(url, timeoutMs, signal));
    const input = { timeoutMs: opts.timeoutMs, backoff: opts.backoff ?? DEFAULT_BACKOFF, random: opts.random ?? Math.random };
    this.actor = createActor(this.logic(), { input, ...(opts.clock === undefined ? {} : { clock: opts.clock }) });
  }

  /** The chart's state, for tests. */
  get state(): unknown {
    return this.actor.getSnapshot().value;
  }

  /** Why the configuration may be stale (for /health), or undefined while re-fetches succeed. */
  get problem(): string | undefined {
    if (this.failingSince === undefined) return undefined;
    return `Tekton configuration re-fetch failing since ${this.failingSince.toISOString()}: ${this.lastFailure}`;
  }

  /**
   * Subscribes to the 17/SCMP events, then fetches the first tree. Throws (and stops) when Tekton
   * gives no valid tree within `timeoutMs`.
   */
  start(): Promise<Applications> {
    return new Promise((resolve, reject) => {
      this.startup = { resolve, reject, deadline: this.now() + this.opts.timeoutMs };
      this.actor.start();
    });
  }

  /** Asks for a re-fetch (coalesced; does not bypass a scheduled retry). */
  refresh(trigger: string): void {
    this.send({ type: 'configuration.changed', trigger });
  }

  stop(): void {
    this.send({ type: 'stop' });
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private send(event: RoutingSourceEvent): void {
    if (this.actor.getSnapshot().status === 'active') this.actor.send(event);
  }

  private logic() {
    const { logger } = this.opts;
    return routingSourceMachine.provide({
      actors: {
        fetchFirstTree: fromPromise(async ({ signal }) => {
          const deadline = this.startup!.deadline;
          try {
            return await this.fetchConfigs(Math.max(1, deadline - this.now()), signal);
          } catch (error) {
            throw { reason: (error as Error).message, timeLeftMs: deadline - this.now() } satisfies StartupAttemptFailure;
          }
        }),
        fetchTree: fromPromise(({ signal }) => this.fetchConfigs(this.opts.timeoutMs, signal)),
      },
      actions: {
        subscribeToEvents: () => this.subscribeEvents(),
        unsubscribe: () => {
          for (const subscription of this.subscriptions) subscription.unsubscribe();
          this.subscriptions.length = 0;
        },
        handOverFirstTree: ({ event }) => {
          const applications = treeOf(event);
          this.lastGood = canonicalApplications(applications);
          logger.info({ event: 'tekton.configuration.loaded', url: this.shownUrl, versions: versionNames(applications) }, 'application configurations read from Tekton');
          this.startup!.resolve(applications);
        },
        reportTektonNotReady: ({ event, context }) => {
          const { reason } = errorOf(event) as StartupAttemptFailure;
          logger.warn({ event: 'tekton.fetch.failed', url: this.shownUrl, reason, retryInMs: context.retryInMs }, `Tekton not ready yet: ${reason}`);
        },
        reportStartupFailure: ({ event }) => {
          const { reason } = errorOf(event) as StartupAttemptFailure;
          const where = reason.includes(this.shownUrl) ? '' : ` at ${this.shownUrl}`;
          this.startup!.reject(new Error(`cannot read the application configurations from Tekton${where} within ${this.opts.timeoutMs} ms (kaa.tekton.timeout): ${reason}`));
        },
        abandonStartup: () => this.startup?.reject(new Error(`stopped while reading the application configurations from Tekton at ${this.shownUrl}`)),
        applyTree: ({ event, context }) => this.apply(treeOf(event), context.failures),
        reportRefetchFailure: ({ event, context }) => {
          const reason = (errorOf(event) as Error).message;
          this.failingSince ??= new Date();
          this.lastFailure = reason;
          logger.warn(
            { event: 'tekton.refetch.failed', url: this.shownUrl, reason, failures: context.failures, retryInMs: context.retryInMs },
            `Tekton configuration re-fetch failed, keeping the last good configuration: ${reason}`,
          );
        },
        noteRetryScheduled: ({ event }) => logger.debug({ trigger: (event as { trigger: string }).trigger }, 'Tekton re-fetch already scheduled (backing off)'),
      },
    });
  }

  private subscribeEvents(): void {
    const { nats, instanceName, logger } = this.opts;
    for (const action of ['upsert', 'delete'] as const satisfies readonly ScmpAction[]) {
      this.subscriptions.push(
        nats.subscribe(subjects.configurationBroadcast(action), (msg) =>
          this.onEvent(msg.subject, () => codecs.broadcastConfigurationUpdate.decode(msg.data)),
        ),
        nats.subscribe(subjects.serviceConfiguration(instanceName, action), (msg) =>
          this.onEvent(msg.subject, () => codecs.serviceConfigurationUpdate.decode(msg.data)),
        ),
      );
    }
    nats.addListener({ onNatsDisconnected: () => {}, onNatsReconnected: () => this.refresh('NATS reconnected') });
    logger.debug({ subjects: this.subscriptions.map((s) => s.getSubject()) }, 'subscribed to 17/SCMP configuration events');
  }

  private onEvent(subject: string, decode: () => { tenantID: string | null; appName: string | null; appVerName: string | null }): void {
    try {
      const { tenantID, appName, appVerName } = decode();
      this.opts.logger.debug({ event: 'scmp.configuration', subject, tenantID, appName, appVerName }, '17/SCMP configuration event; re-fetching from Tekton');
    } catch (error) {
      this.opts.undecodable.report(subject, '17/SCMP configuration event', { subject, err: (error as Error).message }, 're-fetching from Tekton anyway');
    }
    this.refresh(subject);
  }

  private apply(applications: Applications, failures: number): void {
    const { logger } = this.opts;
    if (this.failingSince !== undefined) {
      logger.info({ event: 'tekton.refetch.recovered', url: this.shownUrl, failures, since: this.failingSince.toISOString() }, 'Tekton configuration re-fetch succeeds again');
    }
    this.failingSince = undefined;
    this.lastFailure = undefined;
    const canonical = canonicalApplications(applications);
    if (canonical === this.lastGood) {
      logger.debug('Tekton configuration unchanged');
      return;
    }
    this.lastGood = canonical;
    try {
      this.opts.onChange(applications);
    } catch (error) {
      logger.error({ err: error }, 'applying the Tekton configuration failed');
    }
  }
}

// The invoked fetches' done and error events (xstate types them apart from the chart's own events).
const treeOf = (event: unknown): Applications => (event as { output: Applications }).output;
const errorOf = (event: unknown): unknown => (event as { error: unknown }).error;

function versionNames(applications: Applications): string[] {
  return Object.values(applications).flatMap((app) => Object.keys(app.versions));
}
