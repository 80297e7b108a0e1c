// The confirmed publisher against a real nats-server: a sender's confirmation callback that throws
// (a bug elsewhere: e.g. acknowledging on a client that is already gone) must not stop the publisher
// from confirming everything after it, and is reported once, naming the failure.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfirmedPublisher } from '../../src/infra/nats/confirmed-publisher.js';
import { NatsLink } from '../../src/infra/nats/connection.js';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.js';

let nats: NatsServerHandle;
let link: NatsLink;

beforeAll(async () => {
  nats = await startNatsServer();
  link = await NatsLink.open({ servers: nats.url }, 'publisher-test', pino({ level: 'silent' }));
});

afterAll(async () => {
  await link?.connection.close();
  await nats?.stop();
});

function confirmation(publisher: ConfirmedPublisher, subject: string, onConfirmed: () => void = () => {}): Promise<void> {
  return new Promise((resolve) => {
    publisher.publish(subject, new Uint8Array([1]), undefined, () => {
      resolve();
      onConfirmed();
    });
  });
}

describe('ConfirmedPublisher', () => {
  it('keeps confirming after a confirmation callback throws, and reports the failure', async () => {
    const failures: unknown[] = [];
    const publisher = new ConfirmedPublisher(link, 100, (error) => failures.push(error));
    const first = confirmation(publisher, 'test.first', () => {
      throw new Error('client already gone');
    });
    const second = confirmation(publisher, 'test.second');
    await Promise.all([first, second]);
    // A later batch, after the throw: it is flushed and confirmed like any other.
    await confirmation(publisher, 'test.later');
    expect(publisher.unconfirmed).toBe(0);
    expect(failures.map((error) => (error as Error).message)).toEqual(['client already gone']);
    await publisher.whenIdle();
  });
});
