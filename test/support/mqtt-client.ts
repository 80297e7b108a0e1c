// MQTT 3.1.1 test clients over mqtt.js, without automatic reconnection so that a refused or dropped
// connection stays visible to the test.
import { connect, type IClientOptions, type MqttClient } from 'mqtt';

const testDefaults: IClientOptions = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 };

/** A refused CONNECT: `code` is the CONNACK return code (4 bad username or password, 5 not authorized). */
export interface ConnackError extends Error {
  code?: number | string;
}

/** Resolves with the connected client; rejects with the CONNACK return code in `code` on refusal. */
export function connectClient(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = connect(url, { ...testDefaults, ...opts });
    // mqtt.js emits 'error' for a server that drops the socket too; an EventEmitter 'error' with no
    // listener would crash the test worker, and tests watch 'close' (or add their own listener).
    client.on('error', () => {});
    let settled = false;
    const refuse = (error: ConnackError) => {
      if (settled) return;
      settled = true;
      client.end(true);
      reject(error);
    };
    client.once('error', (error) => refuse(error));
    client.once('close', () => refuse(new Error(`connection to ${url} closed before CONNACK`)));
    client.once('connect', () => {
      if (settled) return;
      settled = true;
      resolve(client);
    });
  });
}

/** The CONNACK return code for a CONNECT with `opts`, 0 included; the client disconnects afterwards. */
export async function connackCode(url: string, opts: IClientOptions = {}): Promise<number> {
  try {
    const client = await connectClient(url, opts);
    await client.endAsync();
    return 0;
  } catch (error) {
    const code = (error as ConnackError).code;
    if (typeof code === 'number') return code;
    throw error;
  }
}
