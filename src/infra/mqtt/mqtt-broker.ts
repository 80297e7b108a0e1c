// The MQTT protocol engine (aedes) wired to the session layer. Aedes parses packets, keeps
// keepalive and QoS state and writes CONNACK/PUBACK/SUBACK; every decision is the sessions'.
//
// KPC is not a broker: a client's PUBLISH is never delivered to any subscription (1/KP over MQTT
// talks to extensions, never client to client). So
// aedes's fan-out (broker.publish: retained store, subscription matching, wills) is switched off
// entirely; responses go to one connection with client.publish, which needs no subscription.
// Whatever this relies on beyond aedes's documented hooks goes through aedes-internals.ts.
import { Aedes, type Client, type Subscription } from 'aedes';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ConnectRequest, MqttConnection, MqttSession, Transport } from '../../actors/ports.js';
import { AedesConnection, type ConnackCallback } from './aedes-connection.js';
import { beforeAedesHandles, checkEachString, disableFanOut, keepOnlyProtocolVersion, type ParsedPacket } from './aedes-internals.js';
import { presentedCertificate } from './client-certificate.js';
import { violationOf, type ClientProblems } from './client-problems.js';
import { ExactlyOnceReceipts } from './exactly-once.js';
import { malformedString } from './utf8-strings.js';

export interface SessionOpener {
  openSession(connection: MqttConnection, request: ConnectRequest): MqttSession;
}

/** What the broker reports for metrics and logs: its clients' problems, and how CONNECTs were answered. */
export interface ConnectionObserver extends ClientProblems {
  /** CONNECT answered: `outcome` is `accepted` or `refused-<CONNACK code>`. */
  authenticated(transport: Transport, outcome: string, seconds: number): void;
}

const SUBSCRIBABLE_PREFIX = 'kp1/';
const ONE_DAY_MS = 86_400_000;

export interface MqttBrokerOptions {
  id: string;
  connectTimeoutMs: number;
  maxOutboundBytes: number;
  /** Filters one connection may hold; past it SUBACK has 0x80 (failure) for the filter, MQTT 3.1.1 section 3.9.3. */
  maxSubscriptions: number;
}

export class MqttBroker {
  private readonly sessions = new WeakMap<Client, MqttSession>();
  private readonly closeReasons = new WeakMap<Client, string>();
  private readonly transports = new WeakMap<Duplex, Transport>();
  /** Per connection: the filters it holds (bounded by maxSubscriptions), and its QoS 2 receipts. */
  private readonly filters = new WeakMap<Client, Set<string>>();
  private readonly receipts = new WeakMap<Client, ExactlyOnceReceipts>();

  private constructor(
    readonly aedes: Aedes,
    private readonly opener: SessionOpener,
    private readonly logger: Logger,
    private readonly options: MqttBrokerOptions,
    private readonly observer: ConnectionObserver,
  ) {}

  static async create(options: MqttBrokerOptions, opener: SessionOpener, logger: Logger, observer: ConnectionObserver): Promise<MqttBroker> {
    let broker!: MqttBroker;
    const aedes = await Aedes.createBroker({
      id: options.id,
      connectTimeout: options.connectTimeoutMs,
      heartbeatInterval: ONE_DAY_MS, // no $SYS chatter: nobody may subscribe to it anyway
      // KPC keeps no MQTT sessions (CONNACK always has session present 0, MQTT 3.1.1 section 3.2.2.2):
      // without this, aedes would store a clean-session=false client's subscriptions forever and
      // answer its reconnect with session present 1.
      preConnect: (_client, packet, done) => {
        packet.clean = true;
        done(null, true);
      },
      authenticate: (client, username, password, done) => broker.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => broker.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, subscription, done) => broker.authorizeSubscribe(client, subscription, done),
    });
    broker = new MqttBroker(aedes, opener, logger, options, observer);
    disableFanOut(aedes);
    broker.watchConnectionEnds();
    return broker;
  }

  /** Hands a new client stream (TCP socket, TLS socket or WebSocket stream) to the protocol engine. */
  handle(stream: Duplex, transport: Transport): void {
    this.transports.set(stream, transport);
    const client = this.aedes.handle(stream);
    checkEachString(client, malformedString);
    beforeAedesHandles(client, (packet) => this.onParsedPacket(client, packet));
    keepOnlyProtocolVersion(client);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.aedes.close(() => resolve()));
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: ConnackCallback,
  ): void {
    const transport = this.transports.get(client.conn as Duplex) ?? 'tcp';
    const connection = new AedesConnection(client, this.timed(transport, done), this.logger, this.options.maxOutboundBytes, this.observer);
    const session = this.opener.openSession(connection, {
      mqttClientId: client.id,
      transport,
      username: username ?? null,
      password: password ?? null,
      certificate: presentedCertificate(client.conn as Duplex),
    });
    this.sessions.set(client, session);
    // The socket's end is the one signal that covers every way a connection can go (DISCONNECT,
    // keepalive timeout, network error, server close), in every order aedes may report them.
    // aedes calls authenticate a setImmediate after parsing CONNECT (aedes-internals.ts, item 9): a
    // packet right behind it (a second CONNECT, garbage) may have destroyed the stream already, and
    // 'close' will not come again.
    const conn = client.conn as Duplex;
    const ended = () => session.disconnected(this.closeReasons.get(client) ?? 'connection closed');
    if (conn.destroyed) ended();
    else conn.once('close', ended);
  }

  /** `done`, reporting how long the CONNECT took to answer (aedes calls authenticate once it has parsed it). */
  private timed(transport: Transport, done: ConnackCallback): ConnackCallback {
    const started = performance.now();
    return (error, success) => {
      const outcome = error === null ? 'accepted' : `refused-${error.returnCode ?? 5}`;
      this.observer.authenticated(transport, outcome, (performance.now() - started) / 1000);
      done(error, success);
    };
  }

  /**
   * The data path: each PUBLISH is relayed here, and aedes writes its PUBACK (QoS 1) or PUBREC (QoS 2)
   * only when `done` runs (aedes-internals.ts, item 5): the session decides when.
   */
  private authorizePublish(
    client: Client | null,
    packet: { topic: string; payload: Buffer | string; qos: 0 | 1 | 2; messageId?: number },
    done: (error?: Error | null) => void,
  ): void {
    const session = client === null ? undefined : this.sessions.get(client);
    if (session === undefined) return done(null);
    let ack: (error?: Error) => void = done;
    if (packet.qos === 2 && packet.messageId !== undefined) {
      let receipts = this.receipts.get(client!);
      if (receipts === undefined) this.receipts.set(client!, (receipts = new ExactlyOnceReceipts()));
      const first = receipts.receive(packet.messageId, done);
      if (first === undefined) return; // a retransmission before PUBREL: relayed once already
      ack = first;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    session.publish({ topic: packet.topic, payload, qos: packet.qos }, ack);
  }

  /** Sees each packet as parsed, before aedes handles it. */
  private onParsedPacket(client: Client, packet: ParsedPacket): void {
    switch (packet.cmd) {
      case 'subscribe':
        // aedes writes the SUBACK with the *requested* QoS whatever authorizeSubscribe grants
        // (aedes-internals.ts, item 7), so the QoS ≤ 1 cap is applied to the parsed packet.
        for (const sub of packet.subscriptions ?? []) sub.qos = Math.min(sub.qos, 1);
        break;
      case 'unsubscribe':
        for (const filter of packet.unsubscriptions ?? []) this.filters.get(client)?.delete(filter);
        break;
      case 'pubrel':
        if (packet.messageId !== undefined) this.receipts.get(client)?.released(packet.messageId);
        break;
    }
  }

  /**
   * Filters under kp1/ are granted at QoS ≤ 1, unless the connection holds max-subscriptions
   * filters already or the session refuses one (a filter naming an endpoint token the provider
   * rejects); anything else gets SUBACK 0x80 (MQTT 3.1.1 §3.9.3). aedes sends the SUBACK once every
   * filter of the SUBSCRIBE is answered.
   */
  private authorizeSubscribe(client: Client, subscription: Subscription, done: (error: Error | null, granted: Subscription | null) => void): void {
    const granted = grantSubscription(subscription);
    if (granted === null) return done(null, null);
    let held = this.filters.get(client);
    if (held === undefined) this.filters.set(client, (held = new Set()));
    const known = held.has(subscription.topic);
    if (!known && held.size >= this.options.maxSubscriptions) {
      this.logger.debug({ mqttClientId: client.id, limit: this.options.maxSubscriptions }, 'SUBSCRIBE past max-subscriptions refused');
      return done(null, null);
    }
    held.add(subscription.topic); // counted at once: the filters of one SUBSCRIBE are answered in parallel
    const session = this.sessions.get(client);
    if (session === undefined) return done(null, granted);
    session.subscribe(subscription.topic, (ok) => {
      if (!ok && !known) held.delete(subscription.topic);
      done(null, ok ? granted : null);
    });
  }

  private watchConnectionEnds(): void {
    this.aedes.on('keepaliveTimeout', (client) => this.closeReasons.set(client, 'keepalive timeout'));
    this.aedes.on('clientError', (client, error) => {
      if (!this.closeReasons.has(client)) this.closeReasons.set(client, error.message);
      this.reportError(client, error, 'client connection error');
    });
    this.aedes.on('connectionError', (client, error) => this.reportError(client, error, 'connection error before CONNECT completed'));
  }

  /** Protocol violations are counted and logged (rate-limited); network errors only at debug. */
  private reportError(client: Client, error: Error, debugMessage: string): void {
    const kind = violationOf(error);
    const fields = { mqttClientId: client.id || undefined, transport: this.transports.get(client.conn as Duplex) ?? 'tcp', reason: error.message };
    if (kind !== undefined) this.observer.violation(kind, fields);
    else this.logger.debug({ ...fields, err: error.message }, debugMessage);
  }
}

function grantSubscription(subscription: Subscription): Subscription | null {
  // Filters under kp1/ are granted at QoS ≤ 1 (KPC delivers at most QoS 1); anything else gets
  // SUBACK 0x80 (failure).
  if (!subscription.topic.startsWith(SUBSCRIBABLE_PREFIX)) return null;
  return { ...subscription, qos: Math.min(subscription.qos, 1) as 0 | 1 };
}
