// Devices that only subscribe (Kaa's command clients: `getPendingCommands` in @kaaiot/mqtt-client,
// the Python client's command handler) must receive pushes: a SUBSCRIBE whose filter names an
// endpoint token identifies that endpoint in the client's session exactly as a PUBLISH does (one
// 16/ECAP request, 9/ELCE connected), and a token the provider rejects gets SUBACK 0x80 for that
// filter while the connection stays. Real nats-server, built KPC, mqtt.js.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_VERSION, DEVICE, ECHO, type Stack, startStack } from '../support/stack.js';
import { connectAs, kpTopic, subackCodes, TestClient } from '../support/mqtt.js';
import { listing } from '../support/elce-recorder.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('a SUBSCRIBE naming an endpoint token', () => {
  it('identifies the endpoint without any PUBLISH: one ECAP request, ELCE connected, and pushes arrive', async () => {
    const { token, endpointId } = stack.newToken('subscriber');
    const client = await connectAs(stack.kpc, DEVICE);
    const inbox = new TestClient(client);
    try {
      const commands = kpTopic(APP_VERSION, ECHO, token, 'command', 'reboot', '+');
      expect(await subackCodes(inbox.client, [commands], 1)).toEqual([1]);
      expect(stack.provider.tokenRequestCounts.get(token)).toBe(1);
      await stack.elce.waitFor(listing('connected', endpointId), `ELCE connected for ${endpointId}`);

      await stack.echo.push({ endpointId, appVersionName: APP_VERSION, resourcePath: '/command/reboot', payload: Buffer.from('[{"id":1}]') });
      const push = await inbox.waitFor(kpTopic(APP_VERSION, ECHO, token, 'command', 'reboot', 'status'));
      expect(push.payload.toString()).toBe('[{"id":1}]');

      // A later PUBLISH and SUBSCRIBE with the same token use the identified endpoint: no second request.
      await inbox.request(kpTopic(APP_VERSION, ECHO, token, 'result', 'reboot', 7), '[{"id":1,"statusCode":200}]');
      expect(await subackCodes(inbox.client, [kpTopic(APP_VERSION, ECHO, token, 'command', 'other', '+')], 1)).toEqual([1]);
      expect(stack.provider.tokenRequestCounts.get(token)).toBe(1);
    } finally {
      await client.endAsync();
    }
  });

  it('refuses (SUBACK 0x80) only the filter whose token the provider rejects; the connection stays', async () => {
    const { token } = stack.newToken('good');
    const client = await connectAs(stack.kpc, DEVICE);
    const inbox = new TestClient(client);
    try {
      const filters = [
        kpTopic(APP_VERSION, ECHO, 'blocked-token', 'command', 'reboot', '+'),
        kpTopic(APP_VERSION, ECHO, token, 'command', 'reboot', '+'),
        kpTopic(APP_VERSION, ECHO, '+', 'command', '#'), // no token named: granted, nothing identified
      ];
      expect(await subackCodes(inbox.client, filters, 1)).toEqual([0x80, 1, 1]);
      expect(client.connected).toBe(true);
      // Still served, and the rejection is remembered for the negative-cache period (no second request).
      const echoed = await inbox.request(kpTopic(APP_VERSION, ECHO, token, 'data', 1), 'after the refusal');
      expect(echoed.payload.toString()).toBe('after the refusal');
      expect(await subackCodes(inbox.client, [filters[0]!], 1)).toEqual([0x80]);
      expect(stack.provider.tokenRequestCounts.get('blocked-token')).toBe(1);
    } finally {
      await client.endAsync();
    }
  });
});
