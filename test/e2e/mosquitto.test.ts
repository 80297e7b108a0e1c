// Interoperability with an MQTT client that is not mqtt.js: the mosquitto command-line clients
// (MQTT 3.1.1). Skipped, with a message, when they are not installed.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable } from '../../dev/executables.js';
import { killOnExit } from '../../dev/child-cleanup.js';
import { waitUntil } from '../support/waiting.js';
import { APP_VERSION, DEVICE, ECHO, type Stack, startStack } from '../support/stack.js';
import { kpTopic, uniqueId } from '../support/mqtt.js';

const mosquittoPub = findExecutable('mosquitto_pub');
const mosquittoRr = findExecutable('mosquitto_rr');
const missing = [!mosquittoPub && 'mosquitto_pub', !mosquittoRr && 'mosquitto_rr'].filter(Boolean);
if (missing.length > 0) console.warn(`mosquitto.test.ts skipped: ${missing.join(', ')} not installed (apt-get install mosquitto-clients)`);

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ReturnType<typeof spawn>>();

/** Runs a command to completion; kills it and rejects if it takes longer than `timeoutMs`. */
function run(command: string, args: string[], timeoutMs = 10_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(missing.length > 0)('mosquitto clients against KPC', () => {
  let stack: Stack;
  const connection = () => ['-V', 'mqttv311', '-h', '127.0.0.1', '-p', String(stack.kpc.mqttPort), '-i', uniqueId('mosq')];

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    for (const child of running) child.kill('SIGKILL');
    await stack?.stop();
  });

  it('a QoS 1 mosquitto_pub reaches the extension unchanged', async () => {
    const { token, endpointId } = stack.newToken('mosq');
    const message = uniqueId('from mosquitto_pub');
    const result = await run(mosquittoPub!, [
      ...connection(), '-u', DEVICE.username, '-P', DEVICE.password, '-q', '1', '-t', kpTopic(APP_VERSION, ECHO, token, 'hello', 1), '-m', message,
    ]);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    const data = await waitUntil(() => stack.echo.received.find((d) => d.endpointId === endpointId), 'the ClientData from mosquitto_pub');
    expect(data.payload.toString()).toBe(message);
    expect(data).toMatchObject({ appVersionName: APP_VERSION, resourcePath: '/hello', requestId: 1 });
  });

  it('mosquitto_rr gets the echo reply on <topic>/status', async () => {
    const topic = kpTopic(APP_VERSION, ECHO, 'token-1', 'rr', 2);
    const message = uniqueId('request-response');
    const result = await run(mosquittoRr!, [
      ...connection(), '-u', DEVICE.username, '-P', DEVICE.password, '-q', '1', '-W', '8', '-t', topic, '-e', `${topic}/status`, '-m', message,
    ]);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(result.stdout.trim()).toBe(message);
  });

  it('a wrong password makes mosquitto_pub fail with a refusal', async () => {
    const result = await run(mosquittoPub!, [
      ...connection(), '-u', DEVICE.username, '-P', 'wrong', '-q', '1', '-t', kpTopic(APP_VERSION, ECHO, 'token-1', 'hello', 3), '-m', 'never delivered',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/not authori[sz]ed|bad user ?name or password/i);
  });
});
