import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';
import { ServerClockOffset } from './server-clock.js';

const httpDate = (ms: number) => new Date(ms).toUTCString();

describe('ServerClockOffset', () => {
  it('is 0 before any answer, and ignores a missing or broken Date header', () => {
    const c = new ServerClockOffset();
    c.observe(undefined, 0, 10);
    c.observe('not a date', 0, 10);
    expect(c.offsetMs).toBe(0);
    expect(c.uncertaintyMs).toBe(Infinity);
  });

  it('narrows to well under the header\'s one-second resolution over a few answers', () => {
    const trueOffset = 90_321;
    const c = new ServerClockOffset();
    // Answers at different sub-second phases, each taking 20 ms.
    for (const local of [1_000_000, 1_000_250, 1_000_530, 1_000_810, 1_001_120]) {
      const serverAt = local + 10 + trueOffset;
      c.observe(httpDate(Math.floor(serverAt / 1000) * 1000), local, local + 20);
    }
    expect(Math.abs(c.offsetMs - trueOffset)).toBeLessThanOrEqual(c.uncertaintyMs);
    expect(c.uncertaintyMs).toBeLessThan(300);
  });

  it('starts over when a clock is set (a sample that cannot overlap the others)', () => {
    const c = new ServerClockOffset();
    c.observe(httpDate(1_000_000), 1_000_000, 1_000_010);
    expect(Math.abs(c.offsetMs)).toBeLessThan(1_000);
    c.observe(httpDate(1_000_000 + 3_600_000), 1_000_500, 1_000_510);
    expect(Math.abs(c.offsetMs - 3_600_000)).toBeLessThan(1_000);
  });
});

describe('backoffDelay', () => {
  it('doubles from firstMs up to maxMs, jittered between half and all of it', () => {
    const b = { firstMs: 100, maxMs: 1_000 };
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, b, () => 1))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, b, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
  });
});
