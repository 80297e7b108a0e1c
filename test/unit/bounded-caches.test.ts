// Caches keyed by what clients or other services send must hold the recent past, not a high-water
// mark of everything ever seen.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuthenticationGate, credentialKey } from '../../src/actors/session/authentication-gate.js';
import { Metrics, statusLabel } from '../../src/infra/metrics.js';

const refused = (statusCode: number) =>
  Promise.resolve({ ok: true as const, reply: { statusCode, clientId: null, credentialId: null, reasonPhrase: null, tenantId: null } });
const rememberedRefusals = (gate: AuthenticationGate) => (gate as unknown as { refused: Map<string, unknown> }).refused.size;

afterEach(() => vi.useRealTimers());

describe('AuthenticationGate negative cache', () => {
  it('forgets refusals once their negative-cache period is over, without waiting for the same credentials again', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const gate = new AuthenticationGate(10, 1_000);
    for (let i = 0; i < 500; i++) await gate.validate(credentialKey(`user-${i}`, 'wrong'), () => refused(401));
    expect(rememberedRefusals(gate)).toBe(500);
    vi.setSystemTime(Date.now() + 1_001);
    await gate.validate(credentialKey('someone-else', 'wrong'), () => refused(401));
    expect(rememberedRefusals(gate)).toBe(1);
  });
});

describe('status code labels', () => {
  it('keep HTTP status codes and fold anything else into one label', async () => {
    expect([200, 401, 599].map(statusLabel)).toEqual(['200', '401', '599']);
    expect([-1, 0, 99, 600, 4711, 1.5].map(statusLabel)).toEqual(Array(6).fill('out-of-range'));
    const metrics = new Metrics();
    for (let code = 1_000; code < 1_100; code++) metrics.sessionCounters().kpError(code);
    const series = (await metrics.registry.getSingleMetricAsString('kpc_kp_errors_total')).split('\n').filter((line) => line.startsWith('kpc_kp_errors_total{'));
    expect(series).toEqual(['kpc_kp_errors_total{status="out-of-range"} 100']);
  });
});
