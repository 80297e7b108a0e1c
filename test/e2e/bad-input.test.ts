// Bad input from one client costs that client at most its own connection (a bad publish is
// dropped and acknowledged, never a reason to disconnect; a connection that breaks the MQTT
// protocol is closed by the protocol engine). The process, and every other client, go on.
import { connect as connectTcp, type Socket } from 'node:net';
import { generate, parser as mqttParser, type Packet } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listing } from '../support/elce-recorder.js';
import type { KpcHandle } from '../support/kpc-process.js';
import { within } from '../support/waiting.js';
import { getHealth } from '../support/kpc-probes.js';
import { passwordOf, type Stack, startStack, tokenTopic } from '../support/stack.js';

let stack: Stack;
let kpc: KpcHandle;

beforeAll(async () => {
  stack = await startStack({ noKpc: true, users: ['raw-user', 'good-user', 'sloppy-user'], tokens: 3 });
  kpc = await stack.startKpc();
});

afterAll(async () => {
  await stack?.stop();
});

/** A plain TCP connection speaking MQTT by hand, to send what no MQTT library would. */
class RawMqtt {
  readonly packets: Packet[] = [];
  readonly closed: Promise<void>;
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly socket: Socket) {
    const parser = mqttParser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      this.packets.push(packet);
      for (const waiter of [...this.waiters]) waiter();
    });
    socket.on('data', (chunk) => parser.parse(chunk));
    socket.on('error', () => {}); // a reset is one way for KPC to close it
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static open(port: number): Promise<RawMqtt> {
    return new Promise((resolve, reject) => {
      const socket = connectTcp({ host: '127.0.0.1', port });
      socket.once('connect', () => resolve(new RawMqtt(socket)));
      socket.once('error', reject);
    });
  }

  send(data: Packet | Buffer): void {
    this.socket.write(Buffer.isBuffer(data) ? data : generate(data));
  }

  /** The first received packet with `cmd` (past or future). */
  waitFor<C extends Packet['cmd']>(cmd: C, timeoutMs = 10_000): Promise<Extract<Packet, { cmd: C }>> {
    const find = () => this.packets.find((packet) => packet.cmd === cmd) as Extract<Packet, { cmd: C }> | undefined;
    return within(
      new Promise((resolve) => {
        const check = () => {
          const packet = find();
          if (packet === undefined) return;
          this.waiters.delete(check);
          resolve(packet);
        };
        this.waiters.add(check);
        check();
      }),
      timeoutMs,
      `a ${cmd} packet from KPC`,
    );
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Bytes that are not an MQTT packet: packet type 0 is reserved, then a malformed remaining length. */
const GARBAGE = Buffer.from([0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef]);

/** The service is still up and serving: /health 200, and a new client's request is answered. */
async function expectServiceUnharmed(): Promise<void> {
  expect(kpc.process.exitCode).toBeNull();
  expect((await getHealth(kpc)).status).toBe(200);
  const client = await stack.connect(kpc, 'good-user');
  const topic = tokenTopic('token-3', 'data', 1);
  const answer = await client.request(topic, 'still serving');
  expect({ topic: answer.topic, payload: answer.payload.toString() }).toEqual({ topic: `${topic}/status`, payload: 'still serving' });
  await client.end();
}

describe('bad input', () => {
  it('garbage after CONNECT closes that connection only (its endpoints announced gone); the service keeps serving', async () => {
    const raw = await RawMqtt.open(kpc.mqttPort);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'raw-garbage', keepalive: 60, username: 'raw-user', password: Buffer.from(passwordOf('raw-user')) });
    expect((await raw.waitFor('connack')).returnCode).toBe(0);
    // The session speaks for endpoint-1 first, so its end must be announced.
    const since = stack.elce.mark();
    raw.send({ cmd: 'publish', topic: tokenTopic('token-1'), payload: Buffer.from('before garbage'), qos: 1, messageId: 1, retain: false, dup: false });
    await raw.waitFor('puback');
    await stack.elce.waitFor(listing('connected', 'endpoint-1'), 'connected endpoint-1 (raw client)', { since });

    raw.send(GARBAGE);
    await within(raw.closed, 10_000, 'KPC closing the connection that sent garbage');
    await stack.elce.waitFor(listing('disconnected', 'endpoint-1'), 'disconnected endpoint-1 after the garbage', { since });
    await expectServiceUnharmed();
  });

  it('garbage instead of CONNECT closes that connection; the service keeps serving', async () => {
    const raw = await RawMqtt.open(kpc.mqttPort);
    raw.send(Buffer.from('GET / HTTP/1.1\r\nHost: kpc\r\n\r\n'));
    await within(raw.closed, 10_000, 'KPC closing a connection that does not speak MQTT');
    expect(raw.packets).toEqual([]);
    await expectServiceUnharmed();
  });

  it('a QoS 1 PUBLISH on an invalid topic is acknowledged and the connection stays up', async () => {
    const client = await stack.connect(kpc, 'sloppy-user');
    const invalidTopics = [
      'not-kp1/at/all',
      'kp1/demo_application_v1', // too short
      'kp1/no_such_version/echo/token-2/data',
      'kp1/demo_application_v1/not-allowed-extension/token-2/data',
      'kp1/demo_application_v1/echo/unknown-token/data',
    ];
    for (const topic of invalidTopics) {
      await client.publishQos1(topic, 'dropped'); // resolves on PUBACK, rejects if the connection closes
    }
    const topic = tokenTopic('token-2', 'data', 1);
    const answer = await client.request(topic, 'valid after invalid');
    expect(answer.topic).toBe(`${topic}/status`);
    expect(client.isClosed).toBe(false);
    expect(stack.echo.received.filter((data) => data.payload.toString() === 'dropped')).toEqual([]);
    await client.end();
  });
});
