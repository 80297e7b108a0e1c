// Hand-built MQTT packets over raw sockets, for protocol violations and byte-level control
// (oversized headers, malformed CONNECTs, silence, clients that never read, TLS attempts whose end
// must be classified) and for opening hundreds of connections cheaply. This is a different job from
// mqtt.ts (well-behaved mqtt.js clients): mqtt.js refuses to send what these tests must send and
// hides what they must see. Packets are encoded and decoded with mqtt-packet; every wait is bounded
// and says what it waited for.
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import { ChangeWaiters } from './waiting.js';

export class RawMqttConnection {
  readonly packets: Packet[] = [];
  /** The socket error, if one came before 'close'. */
  error: Error | undefined;
  closed = false;
  readonly whenClosed: Promise<void>;
  private readonly waiters = new ChangeWaiters();

  constructor(readonly socket: Socket | TLSSocket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      this.packets.push(packet);
      this.waiters.changed();
    });
    parser.on('error', (error: Error) => {
      this.error ??= new Error(`server sent bytes that are not MQTT: ${error.message}`);
    });
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', (error) => {
      this.error ??= error;
    });
    this.whenClosed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        this.waiters.changed();
        resolve();
      }),
    );
  }

  send(packet: Packet): boolean {
    return this.socket.write(mqttPacket.generate(packet));
  }

  write(bytes: Uint8Array): boolean {
    return this.socket.write(bytes);
  }

  /** The first packet (already received or not) with this `cmd`; rejects on close or timeout. */
  waitForPacket<C extends Packet['cmd']>(cmd: C, timeoutMs = 5_000): Promise<Extract<Packet, { cmd: C }>> {
    return this.waitFor(`a ${cmd.toUpperCase()} packet`, () => this.packets.find((p) => p.cmd === cmd) as Extract<Packet, { cmd: C }> | undefined, timeoutMs);
  }

  /** Resolves once the server (or anything) has closed the socket; rejects after `timeoutMs`. */
  waitForClose(timeoutMs = 5_000, what = 'the server to close the connection'): Promise<void> {
    return this.waitFor(what, () => (this.closed ? true : undefined), timeoutMs, false).then(() => undefined);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private waitFor<T>(what: string, found: () => T | undefined, timeoutMs: number, failOnClose = true): Promise<T> {
    const check = () => {
      const value = found();
      if (value !== undefined) return value;
      if (failOnClose && this.closed) throw new Error(`connection closed while waiting for ${what}${this.error ? ` (${this.error.message})` : ''}`);
      return undefined;
    };
    return this.waiters.waitFor(check, timeoutMs, () => new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
  }
}

function opened<S extends Socket>(socket: S, event: 'connect' | 'secureConnect', what: string, timeoutMs: number): Promise<S> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out after ${timeoutMs} ms opening ${what}`));
    }, timeoutMs);
    socket.once(event, () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** A plain TCP connection to 127.0.0.1:`port`, open (nothing sent yet). */
export async function rawTcp(port: number, timeoutMs = 5_000): Promise<RawMqttConnection> {
  const socket = await opened(netConnect({ host: '127.0.0.1', port }), 'connect', `TCP 127.0.0.1:${port}`, timeoutMs);
  socket.setNoDelay(true);
  return new RawMqttConnection(socket);
}

/** A TLS connection to 127.0.0.1:`port` once the handshake is done (from the client's view). */
export async function rawTls(port: number, options: ConnectionOptions, timeoutMs = 5_000): Promise<RawMqttConnection> {
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
  socket.on('error', () => {}); // a late alert must not crash the test; RawMqttConnection records it
  return new RawMqttConnection(await opened(socket, 'secureConnect', `TLS 127.0.0.1:${port}`, timeoutMs));
}

/** CONNECT fields to override; the password may be given as a string. */
export type ConnectFields = Omit<Partial<IConnectPacket>, 'password'> & { password?: string | Buffer };

/** A CONNECT packet (MQTT 3.1.1, clean session) with a fresh client id. */
export function connectPacket(fields: ConnectFields = {}): IConnectPacket {
  const { password, ...rest } = fields;
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    keepalive: 60,
    clientId: `raw-${randomBytes(5).toString('hex')}`,
    ...rest,
    ...(password === undefined ? {} : { password: Buffer.from(password) }),
  } as IConnectPacket;
}

/** Sends CONNECT and resolves with the CONNACK return code. */
export async function rawConnack(connection: RawMqttConnection, fields: ConnectFields = {}, timeoutMs = 5_000): Promise<number> {
  connection.send(connectPacket(fields));
  const connack = await connection.waitForPacket('connack', timeoutMs);
  return connack.returnCode ?? -1;
}

/**
 * The CONNACK code one fresh TCP connection gets for these credentials; the socket is closed
 * afterwards. Rejects (with what happened) when no CONNACK comes within `timeoutMs`.
 */
export async function tcpConnackCode(port: number, fields: ConnectFields = {}, timeoutMs = 10_000): Promise<number> {
  const connection = await rawTcp(port, timeoutMs);
  try {
    return await rawConnack(connection, fields, timeoutMs);
  } finally {
    connection.destroy();
  }
}

/** What a TLS attempt came to: a CONNACK code, or the TLS/socket error that ended it, or a bare close. */
export type TlsAttempt = { outcome: 'connack'; code: number } | { outcome: 'error'; code: string; message: string } | { outcome: 'closed' };

/**
 * Opens TLS (client certificate or not, per `options`), sends CONNECT, and reports how it ended.
 * With TLS 1.3 the server checks the client certificate after the client considers the handshake
 * done, so a refusal shows up as an alert on the first read, not as a failed `secureConnect`.
 */
export async function tlsAttempt(port: number, options: ConnectionOptions, fields: ConnectFields = {}, timeoutMs = 10_000): Promise<TlsAttempt> {
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
  const connection = new RawMqttConnection(socket);
  try {
    const ended = await new Promise<TlsAttempt>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`TLS attempt on port ${port}: neither CONNACK nor close within ${timeoutMs} ms`)), timeoutMs);
      const done = (attempt: TlsAttempt) => {
        clearTimeout(timer);
        resolve(attempt);
      };
      socket.once('secureConnect', () => {
        connection.send(connectPacket(fields));
        connection.waitForPacket('connack', timeoutMs).then(
          (connack) => done({ outcome: 'connack', code: connack.returnCode ?? -1 }),
          () => {}, // the close handler below reports it
        );
      });
      void connection.whenClosed.then(() => {
        const connack = connection.packets.find((p) => p.cmd === 'connack');
        if (connack && connack.cmd === 'connack') return done({ outcome: 'connack', code: connack.returnCode ?? -1 });
        const error = connection.error as (Error & { code?: string }) | undefined;
        done(error ? { outcome: 'error', code: error.code ?? 'unknown', message: error.message } : { outcome: 'closed' });
      });
    });
    return ended;
  } finally {
    connection.destroy();
  }
}
