// The connection-rate token bucket, the paced shutdown drain and the log throttle (with the core's
// rate-limited log built on it), on clocks the
// tests move by hand.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PacedDrain } from '../../src/actors/registry/paced-drain.js';
import { ConnectionRateLimit } from '../../src/infra/mqtt/connection-rate-limit.js';
import pino from 'pino';
import { LogThrottle, ThrottledLog } from '../../src/infra/log-throttle.js';

function manualClock(start = 0) {
  const clock = { ms: start, now: () => clock.ms };
  return clock;
}

describe('ConnectionRateLimit', () => {
  it('admits a burst of one second’s worth, then refills at the rate', () => {
    const clock = manualClock();
    const limit = new ConnectionRateLimit(5, clock.now);
    const burst = Array.from({ length: 20 }, () => limit.admit());
    expect(burst.filter(Boolean)).toHaveLength(5);
    expect(burst.slice(0, 5).every(Boolean)).toBe(true);
    clock.ms += 199;
    expect(limit.admit()).toBe(false);
    clock.ms += 1; // 200 ms = one token at 5/s
    expect(limit.admit()).toBe(true);
    expect(limit.admit()).toBe(false);
  });

  it('never holds more than the burst, however long it stayed idle', () => {
    const clock = manualClock();
    const limit = new ConnectionRateLimit(3, clock.now);
    clock.ms += 3_600_000;
    expect(Array.from({ length: 10 }, () => limit.admit()).filter(Boolean)).toHaveLength(3);
  });
});

describe('PacedDrain', () => {
  // Fake timers move setTimeout and performance.now together.
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] }));
  afterEach(() => vi.useRealTimers());

  function startDrain(count: number, pace: { ratePerSecond: number; windowMs: number }) {
    const open = new Set(Array.from({ length: count }, (_, i) => `s${i}`));
    const closed: string[] = [];
    let finished = false;
    void new PacedDrain<string>(pace)
      .run(open, (session) => {
        closed.push(session);
        open.delete(session);
      })
      .then(() => (finished = true));
    return { open, closed, isFinished: () => finished };
  }

  it('closes all at once with rate 0', async () => {
    const drain = startDrain(4, { ratePerSecond: 0, windowMs: 1_000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(drain.closed).toEqual(['s0', 's1', 's2', 's3']);
    expect(drain.isFinished()).toBe(true);
  });

  it('closes one at once, then at the rate, oldest first', async () => {
    const drain = startDrain(5, { ratePerSecond: 10, windowMs: 60_000 });
    expect(drain.closed).toEqual(['s0']);
    await vi.advanceTimersByTimeAsync(250); // 1 + floor(250 ms × 10/s)
    expect(drain.closed).toEqual(['s0', 's1', 's2']);
    await vi.advanceTimersByTimeAsync(150);
    expect(drain.closed).toEqual(['s0', 's1', 's2', 's3', 's4']);
    await vi.advanceTimersByTimeAsync(0);
    expect(drain.isFinished()).toBe(true);
  });

  it('speeds up to finish within the window when the rate is too slow for the count', async () => {
    // 1/s would need 9 s for 10 sessions; the window is 2 s: 5/s instead.
    const drain = startDrain(10, { ratePerSecond: 1, windowMs: 2_000 });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(drain.closed).toHaveLength(6);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(drain.closed).toHaveLength(10);
    expect(drain.isFinished()).toBe(true);
  });

  it('skips sessions that ended by themselves and closes late arrivals at the end', async () => {
    const open = new Set(['a', 'b', 'c']);
    const closed: string[] = [];
    const done = new PacedDrain<string>({ ratePerSecond: 10, windowMs: 10_000 }).run(open, (session) => {
      closed.push(session);
      open.delete(session);
      if (session === 'a') {
        open.delete('b'); // b's client disconnected meanwhile
        open.add('late'); // a CONNECT that was already being read when the listeners closed
      }
    });
    await vi.advanceTimersByTimeAsync(1_000);
    await done;
    expect(closed).toEqual(['a', 'c', 'late']);
  });
});

describe('LogThrottle', () => {
  it('lets one line per kind through per interval and counts the rest', () => {
    const clock = manualClock();
    const throttle = new LogThrottle(1_000, clock.now);
    const written: Array<[string, number]> = [];
    const log = (kind: string) => throttle.log(kind, (suppressed) => written.push([kind, suppressed]));
    log('a');
    log('a');
    log('b');
    log('a');
    clock.ms += 1_000;
    log('a');
    expect(written).toEqual([['a', 0], ['b', 0], ['a', 2]]);
  });

  it('forgets the oldest key past 1 000 distinct ones, so its next line goes through', () => {
    const clock = manualClock();
    const throttle = new LogThrottle(1_000, clock.now);
    const written: string[] = [];
    const log = (key: string) => throttle.log(key, () => written.push(key));
    log('first');
    for (let i = 0; i < 1_000; i++) log(`k${i}`);
    log('first');
    expect(written.filter((key) => key === 'first')).toHaveLength(2);
  });
});

describe('ThrottledLog', () => {
  it('writes one line per kind and source per interval, carrying how many were held back', () => {
    const clock = manualClock();
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const log = new ThrottledLog(logger, new LogThrottle(1_000, clock.now));
    log.warn('nats.undecodable', 's1', { subject: 's1.x' }, 'undecodable');
    log.warn('nats.undecodable', 's1', { subject: 's1.y' }, 'undecodable');
    log.warn('nats.undecodable', 's2', { subject: 's2.x' }, 'undecodable');
    clock.ms += 1_000;
    log.error('nats.undecodable', 's1', { subject: 's1.z' }, 'undecodable');
    expect(lines.map(({ event, source, subject, suppressed, level }) => ({ event, source, subject, suppressed, level }))).toEqual([
      { event: 'nats.undecodable', source: 's1', subject: 's1.x', suppressed: undefined, level: 40 },
      { event: 'nats.undecodable', source: 's2', subject: 's2.x', suppressed: undefined, level: 40 },
      { event: 'nats.undecodable', source: 's1', subject: 's1.z', suppressed: 1, level: 50 },
    ]);
  });
});
