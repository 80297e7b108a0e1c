// The HTTP session chart as a test model, driven through the live wiring: POSTs of 1/KP over HTTP
// reach the Registry's HTTP sessions (the first one, with the endpoint's token, creates "the
// subject" and is identified at once), requests get their answers, the clock passes the idle
// timeout, the token is revoked, the service stops. At every state we check the requests still
// waiting, the identification cache (one ECAP request per session), ELCE announcements, where a
// push for the endpoint goes, and that an ended session is forgotten.
import { describe, expect, it } from 'vitest';
import type { HttpSession } from '../../src/actors/session/http-session.js';
import { httpSessionModel, TOKEN_ID } from './support/events.js';
import {
  APP_NAME, APP_VERSION, ENDPOINT_ID, HTTP_IDLE_TIMEOUT_MS, Harness, TOKEN, pushTopic, tokenReply, tokenTopic, type RecordingExchange,
} from './support/harness.js';
import { generatePaths, type Params } from './support/paths.js';
import { ModelRun, type StateCheck, type Stimulus } from './support/run.js';

class World {
  readonly run = new ModelRun(httpSessionModel);
  readonly harness = new Harness();
  /** Every request with the token, in order. */
  readonly exchanges: RecordingExchange[] = [];
  readonly subject: HttpSession;

  constructor() {
    this.request();
    this.subject = this.harness.registry.http.list()[0]!;
    // Identified at once: the session's life is the subject here, the endpoint's is another chart's.
    this.harness.credentials.answer('token', tokenReply(200, ENDPOINT_ID, TOKEN_ID, null));
  }

  params(): Params {
    return this.run.params(this.stimuli(), this.checks(), (model) => {
      const live = this.subject.snapshot;
      expect(live.value, 'live HTTP session state').toBe(model.value);
      expect(live.context.inFlight, 'requests in flight').toBe(model.context.inFlight);
    });
  }

  private request(): void {
    this.exchanges.push(this.harness.httpRequest(tokenTopic(this.exchanges.length + 1)));
  }

  private stimuli(): Record<string, Stimulus> {
    const { harness } = this;
    return {
      'http.requested': () => this.request(),
      // The extension answers the oldest waiting request (through the request memory, in production).
      'http.answered': () => this.exchanges.find((exchange) => exchange.isActive)!.reply({ statusCode: 200 }),
      'xstate.after.idleTimeout.httpSession.idle': () => harness.clock.increment(HTTP_IDLE_TIMEOUT_MS),
      'endpoint.finished': () => harness.registry.tokenRevoked(ENDPOINT_ID, [TOKEN_ID]),
      'service.stopping': () => harness.registry.shutdown('SIGTERM'),
    };
  }

  private waiting(): number {
    return this.exchanges.filter((exchange) => exchange.isActive).length;
  }

  private pushReachesAnyone(): boolean | undefined {
    return this.harness.registry.holderOf(ENDPOINT_ID)?.deliverPush(pushTopic, Buffer.from('{}'), ENDPOINT_ID);
  }

  private checks(): Record<string, StateCheck> {
    const { harness } = this;
    const open = () => {
      expect(harness.registry.http.list(), 'the session is the cache entry for its token').toEqual([this.subject]);
      expect(harness.credentials.asked('token').map((r) => r.asked), 'one ECAP request for every request so far').toEqual([[APP_NAME, TOKEN]]);
      expect(harness.forwarder.of('http'), 'every request forwarded, in order').toEqual(this.exchanges.map((e) => e.topic));
      expect(harness.announcer.of('connected')).toEqual([{ [ENDPOINT_ID]: APP_VERSION }]);
      expect(harness.announcer.of('disconnected')).toEqual([]);
      expect(this.pushReachesAnyone(), 'a push finds the endpoint here, and cannot be delivered over HTTP').toBe(false);
    };
    return {
      busy: (model) => {
        open();
        expect(this.waiting(), 'requests waiting for their answers').toBe(model.context.inFlight);
      },
      idle: () => {
        open();
        expect(this.waiting()).toBe(0);
      },
      ended: () => {
        expect(harness.registry.http.size, 'forgotten').toBe(0);
        expect(harness.announcer.of('disconnected'), 'the endpoint announced gone once').toEqual([{ [ENDPOINT_ID]: APP_VERSION }]);
        expect(this.pushReachesAnyone(), 'no session holds the endpoint').toBeUndefined();
        expect(this.subject.endpoint.isFinished, 'its endpoint session ended').toBe(true);
        if (this.run.lastEvent?.type === 'service.stopping') return;
        // The cache entry is gone: the next request with the token is identified again, in a new session.
        this.request();
        expect(harness.credentials.asked('token')).toHaveLength(2);
        expect(harness.registry.http.list()).not.toContain(this.subject);
      },
    };
  }
}

describe('HTTP session chart, driven through the live actors', () => {
  for (const path of generatePaths(httpSessionModel).paths) {
    it(path.description, async () => {
      await path.test(new World().params());
    });
  }
});
