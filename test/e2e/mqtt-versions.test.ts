// Which MQTT versions KPC speaks: 3.1.1 and 3.1. An MQTT 5 CONNECT is refused as MQTT 3.1.1
// §3.1.2.2 says for a protocol level the server does not support: CONNACK return code 0x01
// (unacceptable protocol version), then the connection is closed; the credentials are never checked.
import mqttPacket from 'mqtt-packet';
import { connect } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawTcp } from '../support/raw-mqtt.js';
import { DEVICE, type Stack, startStack } from '../support/stack.js';
import { connackCode, uniqueId } from '../support/mqtt.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('MQTT versions', () => {
  it('3.1.1 and 3.1 are accepted', async () => {
    expect(await connackCode(stack.kpc.mqttUrl, { clientId: uniqueId('v311'), ...DEVICE })).toBe(0);
    expect(await connackCode(stack.kpc.mqttUrl, { clientId: uniqueId('v31'), ...DEVICE, protocolVersion: 3, protocolId: 'MQIsdp' })).toBe(0);
  });

  it('an MQTT 5 CONNECT gets CONNACK 0x01 and the connection is closed, without asking the credential provider', async () => {
    const asked = stack.provider.requestLog.length;
    const connection = await rawTcp(stack.kpc.mqttPort);
    const bytes: Buffer[] = [];
    connection.socket.on('data', (chunk: Buffer) => bytes.push(chunk));
    connection.write(mqttPacket.generate({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: uniqueId('v5'),
      username: DEVICE.username, password: Buffer.from(DEVICE.password),
    }));
    await connection.waitForClose();
    // MQTT 3.1.1 §3.2: CONNACK, remaining length 2, session present 0, return code 1.
    expect(Buffer.concat(bytes).toString('hex')).toBe('20020001');
    expect(stack.provider.requestLog.length).toBe(asked);
  });

  it('mqtt.js with protocolVersion 5 is told the version is unacceptable and never connects', async () => {
    const client = connect(stack.kpc.mqttUrl, { protocolVersion: 5, reconnectPeriod: 0, clientId: uniqueId('v5js'), ...DEVICE });
    const outcome = await new Promise<string>((resolve) => {
      client.once('connect', () => resolve('connected'));
      client.once('error', (error) => resolve(`error: ${error.message}`));
      client.once('close', () => resolve('closed'));
    });
    client.end(true);
    expect(outcome).toMatch(/^error: .*(protocol|version)/i);
  });
});
