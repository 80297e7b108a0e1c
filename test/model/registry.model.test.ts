// The registry chart as a test model, driven through the live Registry: NATS coming up (as
// src/main.ts reports it), SIGTERM, the drain hook settling or hanging past the graceful-shutdown
// delay, and session actors that finish or throw. At every state we check the hooks the
// composition root saw (ready, stop accepting, drain, timeout), whether new clients are
// accepted, and what became of every client connection.
import { describe, expect, it } from 'vitest';
import { registryModel } from './support/events.js';
import {
  GRACEFUL_SHUTDOWN_MS, Harness, PASSWORD, RecordingConnection, USERNAME, credentialReply, type Client,
} from './support/harness.js';
import { generatePaths, type Params } from './support/paths.js';
import { ModelRun, type StateCheck, type Stimulus } from './support/run.js';

class World {
  readonly run = new ModelRun(registryModel);
  readonly harness = new Harness({ running: false });
  /** A device that connects once KPC is running; the shutdown must end its session. */
  bystander: Client | undefined;
  /** Clients whose session action threw (`session.failed`). */
  readonly failed: Client[] = [];
  /** Clients refused at CONNECT, whose sessions finished at once (`session.finished`), with the code expected. */
  readonly refused: Array<{ client: Client; code: number }> = [];

  params(): Params {
    return this.run.params(this.stimuli(), this.checks(), (model) => {
      const { registry, failures } = this.harness;
      expect(registry.state, 'live registry state').toBe(model.value);
      // Supervision, in every state: each failure counted once, its connection closed, the rest untouched.
      expect(failures.length, 'failed actors counted').toBe(model.context.failedActors);
      for (const { connection } of this.failed) {
        expect(connection.closes).toEqual(['session failed']);
        expect(connection.connacks).toEqual([]);
      }
      for (const { client, code } of this.refused) {
        expect(client.connection.connacks).toEqual([code]);
        expect(client.connection.closes).toEqual([]);
      }
      // Finished and failed sessions are forgotten (listed as ended), live ones still counted.
      const ended = registry.inspection.inspectSessions().ended.map((session) => session.mqttClientId);
      for (const { mqttClientId } of [...this.failed, ...this.refused.map((r) => r.client)]) expect(ended).toContain(mqttClientId);
      expect(registry.connectionCount).toBe(this.bystander?.session.isActive ? 1 : 0);
    });
  }

  private stimuli(): Record<string, Stimulus> {
    const { harness } = this;
    return {
      'nats.connected': async () => {
        harness.registry.actor.send({ type: 'nats.connected' }); // what src/main.ts sends once its listeners are up
        this.bystander = harness.connect('bystander', { username: USERNAME, password: PASSWORD });
        await new Promise(setImmediate);
        harness.credentials.answer('username-password', credentialReply(200, 'client-b', 'credential-b'));
      },
      'shutdown.requested': () => harness.registry.shutdown('SIGTERM'),
      'xstate.done.actor.drainOutbound': () => this.drain().resolve(),
      'xstate.error.actor.drainOutbound': () => this.drain().reject(new Error('NATS drain failed')),
      'xstate.after.gracefulShutdown.registry.draining': () => harness.clock.increment(GRACEFUL_SHUTDOWN_MS),
      // A client without credentials is refused (5 while running, 3 otherwise); here refusing throws.
      'session.failed': () => {
        const name = `failing-${this.failed.length + 1}`;
        this.failed.push(harness.connect(name, {}, new RecordingConnection(name, true)));
      },
      'session.finished': () => {
        const code = this.run.cameFrom === 'running' ? 5 : 3;
        this.refused.push({ client: harness.connect(`refused-${this.refused.length + 1}`), code });
      },
    };
  }

  private drain() {
    expect(this.harness.hooks.drains, 'the drain hook was called once').toHaveLength(1);
    return this.harness.hooks.drains[0]!;
  }

  private checks(): Record<string, StateCheck> {
    const { harness } = this;
    const { hooks, registry } = harness;
    return {
      starting: () => {
        expect(hooks.ready).toBe(0);
        expect(registry.acceptingConnections(), 'CONNACK 3 until NATS is up').toBe(false);
        expect(hooks.stoppedAccepting).toBe(0);
        expect(hooks.drains).toHaveLength(0);
      },

      running: () => {
        expect(hooks.ready, 'ready announced once').toBe(1);
        expect(registry.acceptingConnections()).toBe(true);
        expect(hooks.stoppedAccepting).toBe(0);
        expect(this.bystander!.connection.connacks).toEqual([0]);
        expect(this.bystander!.connection.closes).toEqual([]);
      },

      draining: () => {
        expect(hooks.stoppedAccepting, 'listeners told to stop accepting').toBe(1);
        expect(registry.acceptingConnections()).toBe(false);
        expect(this.bystander!.connection.closes, 'every session was ended').toEqual(['service.stopping']);
        expect(hooks.drains, 'outbound traffic is being drained').toHaveLength(1);
        expect(hooks.timedOut).toBe(0);
      },

      stopped: () => {
        expect(registry.actor.getSnapshot().status).toBe('done');
        expect(registry.acceptingConnections()).toBe(false);
        if (this.run.cameFrom === 'starting') {
          // Stopped before it ever ran: nothing was announced, accepted or drained.
          expect([hooks.ready, hooks.stoppedAccepting, hooks.drains.length, hooks.timedOut]).toEqual([0, 0, 0, 0]);
        } else {
          expect(hooks.drains).toHaveLength(1);
          expect(this.bystander!.connection.closes).toEqual(['service.stopping']);
          const timedOut = this.run.lastEvent!.type === 'xstate.after.gracefulShutdown.registry.draining';
          expect(hooks.timedOut, 'the timeout is reported only when the drain did not finish').toBe(timedOut ? 1 : 0);
        }
      },
    };
  }
}

describe('registry chart, driven through the live Registry', () => {
  for (const path of generatePaths(registryModel).paths) {
    it(path.description, async () => {
      await path.test(new World().params());
    });
  }
});
