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
import type { Subscription } from 'nats';
import type { Logger } from 'pino';
import { codecs } from '../nats/codecs.js';
import type { NatsLink } from '../nats/connection.js';
import { subjects, type ScmpAction } from '../nats/subjects.js';
import { appConfigsUrl, fetchAppConfigs, redactUrl, type Applications } from './tekton-client.js';

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
  /** Called with each new tree after start() (never with the one start() returns, never twice with the same). */
  onChange(applications: Applications): void;
  backoff?: BackoffSettings;
  /** For tests: replaces the HTTP fetch. */
  fetchConfigs?: (timeoutMs: number, signal: AbortSignal) => Promise<Applications>;
  /** For tests: jitter source in [0, 1). */
  random?: () => number;
}

export class TektonRoutingSource {
  /** The app-configs URL (credentials removed), for messages. */
  readonly shownUrl: string;
  private readonly opts: TektonRoutingSourceOptions;
  private readonly backoff: BackoffSettings;
  private readonly fetchConfigs: (timeoutMs: number, signal: AbortSignal) => Promise<Applications>;
  private readonly cancel = new AbortController();
  private readonly subscriptions: Subscription[] = [];
  private started = false;
  private stopped = false;
  private inFlight = false;
  private queued = false;
  private retryTimer?: NodeJS.Timeout;
  private failures = 0;
  private failingSince?: Date;
  private lastFailure?: string;
  private lastGood?: string;

  constructor(opts: TektonRoutingSourceOptions) {
    this.opts = opts;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    const url = appConfigsUrl(opts.url, opts.instanceName);
    this.shownUrl = redactUrl(url);
    this.fetchConfigs = opts.fetchConfigs ?? ((timeoutMs, signal) => fetchAppConfigs(url, timeoutMs, signal));
  }

  /** Why the configuration may be stale (for /health), or undefined while re-fetches succeed. */
  get problem(): string | undefined {
    if (this.failingSince === undefined) return undefined;
    return `Tekton configuration re-fetch failing since ${this.failingSince.toISOString()}: ${this.lastFailure}`;
  }

  /**
   * Subscribes to the 17/SCMP events, then fetches the first tree. Throws (and stops) when Tekton
   * gives no valid tree within `timeoutMs`. Subscribing first means an event that arrives during
   * the first fetch queues a re-fetch instead of being lost.
   */
  async start(): Promise<Applications> {
    this.subscribeEvents();
    this.inFlight = true;
    try {
      const applications = await this.firstFetch();
      this.lastGood = canonicalApplications(applications);
      this.started = true;
      this.opts.logger.info({ event: 'tekton.configuration.loaded', url: this.shownUrl, versions: versionNames(applications) }, 'application configurations read from Tekton');
      return applications;
    } catch (error) {
      this.stop();
      throw error;
    } finally {
      this.inFlight = false;
      // After start()'s caller has taken the first tree: onChange must not overtake it.
      if (this.started && this.queued) setImmediate(() => this.runQueued());
    }
  }

  /** Asks for a re-fetch (coalesced; does not bypass a scheduled retry). */
  refresh(trigger: string): void {
    if (this.stopped) return;
    if (this.inFlight || !this.started) {
      this.queued = true;
      return;
    }
    if (this.retryTimer !== undefined) {
      this.opts.logger.debug({ trigger }, 'Tekton re-fetch already scheduled (backing off)');
      return;
    }
    void this.refetch(trigger);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.cancel.abort();
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.subscriptions.length = 0;
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
    if (this.stopped) return;
    try {
      const { tenantID, appName, appVerName } = decode();
      this.opts.logger.debug({ event: 'scmp.configuration', subject, tenantID, appName, appVerName }, '17/SCMP configuration event; re-fetching from Tekton');
    } catch (error) {
      this.opts.logger.warn({ subject, err: (error as Error).message }, 'undecodable 17/SCMP configuration event; re-fetching from Tekton anyway');
    }
    this.refresh(subject);
  }

  private async firstFetch(): Promise<Applications> {
    const { timeoutMs, logger } = this.opts;
    const deadline = Date.now() + timeoutMs;
    // Time kept for a last attempt: retries stop early enough that it is not cut to nothing.
    const lastAttemptMs = Math.min(1_000, timeoutMs / 4);
    for (let attempt = 0; ; attempt++) {
      let reason: string;
      try {
        return await this.fetchConfigs(Math.max(1, deadline - Date.now()), this.cancel.signal);
      } catch (error) {
        reason = (error as Error).message;
      }
      if (this.stopped) throw new Error(`stopped while reading the application configurations from Tekton at ${this.shownUrl}`);
      const left = deadline - Date.now();
      if (left <= lastAttemptMs) {
        const where = reason.includes(this.shownUrl) ? '' : ` at ${this.shownUrl}`;
        throw new Error(`cannot read the application configurations from Tekton${where} within ${timeoutMs} ms (kaa.tekton.timeout): ${reason}`);
      }
      const delay = Math.min(left - lastAttemptMs, backoffDelay(attempt, this.backoff, this.opts.random));
      logger.warn({ event: 'tekton.fetch.failed', url: this.shownUrl, reason, retryInMs: delay }, `Tekton not ready yet: ${reason}`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  private runQueued(): void {
    if (this.stopped || !this.queued || this.inFlight || this.retryTimer !== undefined) return;
    void this.refetch('queued event');
  }

  private async refetch(trigger: string): Promise<void> {
    this.inFlight = true;
    this.queued = false;
    try {
      const applications = await this.fetchConfigs(this.opts.timeoutMs, this.cancel.signal);
      if (!this.stopped) this.succeeded(applications, trigger);
    } catch (error) {
      if (!this.stopped) this.failed(error as Error, trigger);
    } finally {
      this.inFlight = false;
      this.runQueued();
    }
  }

  private succeeded(applications: Applications, trigger: string): void {
    const { logger } = this.opts;
    if (this.failingSince !== undefined) {
      logger.info({ event: 'tekton.refetch.recovered', url: this.shownUrl, failures: this.failures, since: this.failingSince.toISOString() }, 'Tekton configuration re-fetch succeeds again');
    }
    this.failures = 0;
    this.failingSince = undefined;
    this.lastFailure = undefined;
    const canonical = canonicalApplications(applications);
    if (canonical === this.lastGood) {
      logger.debug({ trigger }, 'Tekton configuration unchanged');
      return;
    }
    this.lastGood = canonical;
    try {
      this.opts.onChange(applications);
    } catch (error) {
      logger.error({ err: error }, 'applying the Tekton configuration failed');
    }
  }

  private failed(error: Error, trigger: string): void {
    const delay = backoffDelay(this.failures, this.backoff, this.opts.random);
    this.failures++;
    this.failingSince ??= new Date();
    this.lastFailure = error.message;
    this.queued = false; // events that came meanwhile are served by the retry
    this.opts.logger.warn(
      { event: 'tekton.refetch.failed', url: this.shownUrl, trigger, reason: error.message, failures: this.failures, retryInMs: delay },
      `Tekton configuration re-fetch failed, keeping the last good configuration: ${error.message}`,
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopped) void this.refetch('retry');
    }, delay);
    this.retryTimer.unref?.();
  }
}

function versionNames(applications: Applications): string[] {
  return Object.values(applications).flatMap((app) => Object.keys(app.versions));
}
