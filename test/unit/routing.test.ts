import { describe, expect, it } from 'vitest';
import { RoutingTable, INVALID_PATH } from '../../src/actors/traffic/routing.js';
import { parseKpTopic, trailingRequestId } from '../../src/actors/traffic/topic.js';

const table = new RoutingTable(
  {
    applications: { demo: { versions: { v1: { allowedExtensionInstances: ['dcx', 'epr'] } } } },
    extensionInstances: { dcx: { endpointAware: true } },
  },
  (instance) => `kaa.v1.service.${instance}.esp.ClientData`,
);

describe('1/KP topic grammar', () => {
  it('splits an endpoint-aware request with a request ID', () => {
    expect(table.resolve('kp1/v1/dcx/TOKEN/json/42')).toMatchObject({
      ok: true, appName: 'demo', appVersionName: 'v1', extensionInstanceName: 'dcx', endpointAware: true,
      token: 'TOKEN', resourcePath: '/json', requestId: 42, clientDataSubject: 'kaa.v1.service.dcx.esp.ClientData',
    });
  });

  it('accepts request ID 0 and keeps deeper resource paths', () => {
    expect(table.resolve('kp1/v1/dcx/T/update/keys/0')).toMatchObject({ resourcePath: '/update/keys', requestId: 0 });
  });

  it('has no request ID when the last level is not a non-negative Avro int', () => {
    expect(table.resolve('kp1/v1/dcx/T/json')).toMatchObject({ resourcePath: '/json', requestId: null });
    expect(table.resolve('kp1/v1/dcx/T/json/-1')).toMatchObject({ resourcePath: '/json/-1', requestId: null });
    expect(table.resolve('kp1/v1/dcx/T/json/2147483648')).toMatchObject({ resourcePath: '/json/2147483648', requestId: null });
    expect(table.resolve('kp1/v1/dcx/T/json/2147483647')).toMatchObject({ requestId: 2147483647 });
  });

  it('routes endpoint-unaware instances without a token', () => {
    expect(table.resolve('kp1/v1/epr/get/7')).toMatchObject({ ok: true, endpointAware: false, token: '', resourcePath: '/get', requestId: 7 });
  });

  it.each([
    ['not/kp1/at/all/1', 1],
    ['kp1/v1/dcx', null],
    ['kp1/v1/dcx/3', 3],
    ['kp1//dcx/T/json', null],
    ['kp1/v1/dcx/T//json', null],
    ['kp1/v1/dcx/T/json/', null],
    ['kp1/v1/dcx/TOKEN', null],
    ['kp1/v1/dcx/TO.KEN/json/5', 5],
  ])('refuses %s with 400 and keeps its request ID', (topic, requestId) => {
    expect(table.resolve(topic)).toEqual({ ok: false, statusCode: 400, reasonPhrase: INVALID_PATH, requestId });
  });

  it('refuses unknown versions with 404 and disallowed instances with 403', () => {
    expect(table.resolve('kp1/v9/dcx/T/json/1')).toEqual({ ok: false, statusCode: 404, reasonPhrase: "Unknown application version 'v9'", requestId: 1 });
    expect(table.resolve('kp1/v1/cmx/T/json/1')).toEqual({
      ok: false, statusCode: 403, reasonPhrase: "Extension instance 'cmx' is not allowed for 'v1'", requestId: 1,
    });
  });

  it('parses without a routing table', () => {
    expect(parseKpTopic('kp1/a/b/c/d')).toEqual({ appVersionName: 'a', extensionInstanceName: 'b', path: 'c/d', requestId: null });
    expect(trailingRequestId('x/y/12')).toBe(12);
  });
});

describe('routes remembered per topic', () => {
  const fresh = () => new RoutingTable(
    { applications: { demo: { versions: { v1: { allowedExtensionInstances: ['dcx', 'epr'] } } } }, extensionInstances: { dcx: { endpointAware: true } } },
    (instance) => `kaa.v1.service.${instance}.esp.ClientData`,
  );

  it('resolves a topic without a request ID once: later PUBLISHes to it reuse the route', () => {
    const routing = fresh();
    const first = routing.resolve('kp1/v1/dcx/TOKEN/json');
    expect(first).toMatchObject({ ok: true, token: 'TOKEN', resourcePath: '/json' });
    expect(routing.resolve(`kp1/v1/dcx/TOKEN/${'json'}`)).toBe(first);
  });

  it('does not remember topics with a request ID (each is new), errors, or very long topics', () => {
    const routing = fresh();
    expect(routing.resolve('kp1/v1/dcx/TOKEN/json/1')).not.toBe(routing.resolve('kp1/v1/dcx/TOKEN/json/1'));
    expect(routing.resolve('kp1/v9/dcx/TOKEN/json')).not.toBe(routing.resolve('kp1/v9/dcx/TOKEN/json'));
    const long = `kp1/v1/epr/${'x'.repeat(1024)}`;
    expect(routing.resolve(long)).toMatchObject({ ok: true, resourcePath: `/${'x'.repeat(1024)}` });
    expect(routing.resolve(long)).not.toBe(routing.resolve(long));
  });

  it('forgets everything past its capacity, and keeps answering correctly', () => {
    const routing = fresh();
    const first = routing.resolve('kp1/v1/epr/topic-0');
    for (let i = 1; i <= 10_000; i++) routing.resolve(`kp1/v1/epr/topic-${i}`);
    const again = routing.resolve('kp1/v1/epr/topic-0');
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});
