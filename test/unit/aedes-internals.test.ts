// One test per aedes internal that src/infra/mqtt/aedes-internals.ts lists (items 1–9), each against
// the real pinned aedes on a free port, spoken to over a raw socket. A failure here after an aedes
// upgrade names the assumption that no longer holds.
import { Aedes, type AedesOptions, type Client } from 'aedes';
import mqttPacket, { type IPublishPacket } from 'mqtt-packet';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { beforeAedesHandles, checkEachString, disableFanOut, keepOnlyProtocolVersion } from '../../src/infra/mqtt/aedes-internals.js';
import { connectPacket, rawConnack, rawTcp, type RawMqttConnection } from '../support/raw-mqtt.js';
import { waitUntil } from '../support/waiting.js';

interface TestBroker {
  aedes: Aedes;
  port: number;
  clients: Client[];
}

type HandOff = (socket: Socket, handle: (stream: Socket) => Client) => void;

const running: Array<{ aedes: Aedes; server: Server }> = [];
const connections: RawMqttConnection[] = [];

afterEach(async () => {
  for (const connection of connections.splice(0)) connection.destroy();
  for (const { aedes, server } of running.splice(0)) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
  }
});

/** aedes on 127.0.0.1:<free port>; `prepare` runs on each client as soon as aedes has it. */
async function startAedes(options: AedesOptions = {}, prepare: (client: Client) => void = () => {}, handOff?: HandOff): Promise<TestBroker> {
  const aedes = await Aedes.createBroker({ heartbeatInterval: 86_400_000, ...options });
  const clients: Client[] = [];
  const handle = (stream: Socket) => {
    const client = aedes.handle(stream);
    clients.push(client);
    prepare(client);
    return client;
  };
  const server = createServer((socket) => (handOff ? handOff(socket, handle) : handle(socket)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  running.push({ aedes, server });
  return { aedes, port: (server.address() as { port: number }).port, clients };
}

/** A raw connection that has been accepted (CONNACK 0). */
async function connected(port: number, clientId?: string): Promise<RawMqttConnection> {
  const connection = await rawTcp(port);
  connections.push(connection);
  expect(await rawConnack(connection, clientId === undefined ? {} : { clientId })).toBe(0);
  return connection;
}

/** Every packet with this `cmd` received so far. */
function received(connection: RawMqttConnection, cmd: string) {
  return connection.packets.filter((packet) => packet.cmd === cmd);
}

/** A PINGREQ answered: every packet the server wrote before handling it has arrived. */
async function roundTrip(connection: RawMqttConnection): Promise<void> {
  const before = received(connection, 'pingresp').length;
  connection.send({ cmd: 'pingreq' });
  await waitUntil(() => received(connection, 'pingresp').length > before, 'PINGRESP');
}

/** Calls `onPacket` with each packet aedes writes to this socket (CONNACK aside), as it writes it. */
function recordWrites(socket: Socket, onPacket: (packet: { cmd: string; messageId?: number }) => void): void {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (packet: { cmd: string; messageId?: number }) => packet.cmd !== 'connack' && onPacket(packet));
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((chunk: Buffer, ...rest: unknown[]) => {
    parser.parse(Buffer.from(chunk));
    return write(chunk, ...rest);
  }) as typeof socket.write;
}

function publish(topic: string, qos: 0 | 1 | 2, messageId?: number, dup = false): IPublishPacket {
  return { cmd: 'publish', topic, payload: Buffer.from('x'), qos, retain: false, dup, ...(messageId === undefined ? {} : { messageId }) };
}

describe('aedes internals KPC relies on (aedes-internals.ts)', () => {
  it('1. a listener on client._parser sees each packet, and may amend it, before aedes handles it', async () => {
    const order: string[] = [];
    const { port } = await startAedes(
      {
        authorizeSubscribe: (_client, subscription, done) => {
          order.push(`aedes: qos ${subscription.qos}`);
          done(null, subscription);
        },
      },
      (client) =>
        beforeAedesHandles(client, (packet) => {
          if (packet.cmd !== 'subscribe') return;
          order.push('listener');
          for (const sub of packet.subscriptions ?? []) sub.qos = 0;
        }),
    );
    const connection = await connected(port);
    connection.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/b', qos: 1 }] });
    expect((await connection.waitForPacket('suback')).granted).toEqual([0]);
    expect(order).toEqual(['listener', 'aedes: qos 0']);
  });

  it('2. the parser keeps the CONNECT packet as its settings, and parses on with only protocolVersion there', async () => {
    const { port, clients } = await startAedes({}, (client) => keepOnlyProtocolVersion(client));
    const plain = await startAedes();
    await connected(plain.port, 'keeps-connect');
    const settingsOf = (client: Client) => (client as unknown as { _parser: { settings: object } })._parser.settings;
    expect(settingsOf(plain.clients[0]!)).toMatchObject({ cmd: 'connect', clientId: 'keeps-connect' });

    const connection = await connected(port, 'forgotten');
    expect(settingsOf(clients[0]!)).toEqual({ protocolVersion: 4 });
    connection.send(publish('a/b', 1, 3));
    expect((await connection.waitForPacket('puback')).messageId).toBe(3);
  });

  it('3. the parser reads every string through _parseString, and _emitError there closes the connection', async () => {
    const seen: Array<[string, string]> = [];
    const { aedes, port } = await startAedes({}, (client) =>
      checkEachString(client, (text, bytes) => {
        seen.push([text, bytes().toString()]);
        return text === 'refused/topic' ? new Error('string refused by the check') : undefined;
      }),
    );
    const errors: string[] = [];
    aedes.on('clientError', (_client, error) => errors.push(error.message));
    let authorized = 0;
    aedes.authorizePublish = (_client, _packet, done) => {
      authorized++;
      done(null);
    };
    const connection = await connected(port, 'strings');
    expect(seen).toEqual([['MQTT', 'MQTT'], ['strings', 'strings']]);
    connection.send(publish('refused/topic', 0));
    await connection.waitForClose();
    expect(errors).toEqual(['string refused by the check']);
    expect(authorized).toBe(0);
  });

  it('4. replacing aedes.publish stops all fan-out, and clients\' PUBLISHes are still acknowledged', async () => {
    const fannedOut = async (disabled: boolean) => {
      const published: string[] = [];
      const { aedes, port } = await startAedes({ published: (packet, _client, done) => {
        if (!packet.topic.startsWith('$SYS')) published.push(packet.topic);
        done(null);
      } });
      if (disabled) disableFanOut(aedes);
      const subscriber = await connected(port);
      subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 1 }] });
      await subscriber.waitForPacket('suback');
      const publisher = await connected(port);
      publisher.send(publish('a/b', 2, 5));
      // PUBREC follows broker.publish's callback, so any fan-out has been handed on by then.
      expect((await publisher.waitForPacket('pubrec')).messageId).toBe(5);
      if (!disabled) await subscriber.waitForPacket('publish');
      await roundTrip(subscriber);
      return { published, delivered: received(subscriber, 'publish').length };
    };
    expect(await fannedOut(false)).toEqual({ published: ['a/b'], delivered: 1 });
    expect(await fannedOut(true)).toEqual({ published: [], delivered: 0 });
  });

  it('5. authorizePublish holds PUBACK and PUBREC until its callback runs', async () => {
    const events: string[] = [];
    const pending = new Map<number, (error?: Error | null) => void>();
    const { port } = await startAedes(
      { authorizePublish: (_client, packet, done) => {
        events.push(`authorize ${packet.messageId}`);
        pending.set(packet.messageId!, done);
      } },
      (client) => recordWrites(client.conn as Socket, (packet) => events.push(`${packet.cmd} ${packet.messageId}`)),
    );
    const connection = await connected(port);
    const release = async (messageId: number) => {
      await waitUntil(() => pending.has(messageId), `PUBLISH ${messageId} to reach authorizePublish`);
      events.push(`done ${messageId}`);
      pending.get(messageId)!(null);
    };
    connection.send(publish('a/b', 1, 1));
    await release(1);
    await connection.waitForPacket('puback');
    connection.send(publish('a/c', 2, 2));
    await release(2);
    await connection.waitForPacket('pubrec');
    expect(events).toEqual(['authorize 1', 'done 1', 'puback 1', 'authorize 2', 'done 2', 'pubrec 2']);
  });

  it('6. a QoS 2 retransmission before PUBREL reaches authorizePublish again', async () => {
    const authorized: number[] = [];
    const { port } = await startAedes({ authorizePublish: (_client, packet, done) => {
      authorized.push(packet.messageId!);
      done(null);
    } });
    const connection = await connected(port);
    connection.send(publish('a/b', 2, 7));
    await connection.waitForPacket('pubrec');
    connection.send(publish('a/b', 2, 7, true));
    await waitUntil(() => received(connection, 'pubrec').length === 2, 'a PUBREC for the retransmission');
    expect(authorized).toEqual([7, 7]);
  });

  it('7. SUBACK carries the requested QoS whatever authorizeSubscribe grants', async () => {
    const { port } = await startAedes({ authorizeSubscribe: (_client, subscription, done) => done(null, { ...subscription, qos: 0 }) });
    const connection = await connected(port);
    connection.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/b', qos: 1 }] });
    expect((await connection.waitForPacket('suback')).granted).toEqual([1]);
  });

  it('8. aedes reads its stream in paused mode, bytes unshifted before the hand-off included', async () => {
    let flowing: boolean | null | undefined;
    const { port } = await startAedes({}, () => {}, (socket, handle) => {
      // Like the front door: read the first bytes, pause, put them back, hand the socket on.
      socket.once('data', (first: Buffer) => {
        socket.pause();
        socket.unshift(first);
        handle(socket);
        flowing = socket.readableFlowing;
      });
    });
    const connection = await rawTcp(port);
    connections.push(connection);
    expect(await rawConnack(connection)).toBe(0);
    expect(flowing).toBe(false);
  });

  it('9. authenticate runs after CONNECT is parsed, when a packet behind it may have destroyed the stream', async () => {
    let destroyedAtAuthenticate: boolean | undefined;
    const { port } = await startAedes({ authenticate: (client, _username, _password, done) => {
      destroyedAtAuthenticate = (client.conn as Socket).destroyed;
      done(null, true);
    } });
    const connection = await rawTcp(port);
    connections.push(connection);
    // CONNECT and, in the same segment, a packet of reserved type 0: the parser fails right behind CONNECT.
    connection.write(Buffer.concat([mqttPacket.generate(connectPacket()), Buffer.from([0x00, 0x00])]));
    await waitUntil(() => destroyedAtAuthenticate !== undefined, 'authenticate to run');
    expect(destroyedAtAuthenticate).toBe(true);
  });
});
