import { describe, expect, it } from 'vitest';
import { durationLabel, durationPresets, initialDuration, MAX_PRESETS, parseCustomDuration } from './presets.js';

const M = 60_000;
const H = 60 * M;
const D = 24 * H;

describe('durationPresets', () => {
  it('offers round durations up to the maximum, with the default and the maximum', () => {
    expect(durationPresets(H, 30 * M)).toEqual([5 * M, 15 * M, 30 * M, H]);
    expect(durationPresets(90 * M, 45 * M)).toEqual([5 * M, 15 * M, 30 * M, 45 * M, H, 90 * M]);
  });

  it('never offers more than the maximum, even for a tiny one', () => {
    expect(durationPresets(2 * M, 2 * M)).toEqual([2 * M]);
    expect(durationPresets(2 * M, 10 * M)).toEqual([2 * M]);
  });

  it('thins a long list to one line, keeping the default and the maximum', () => {
    const p = durationPresets(7 * D, 20 * M);
    expect(p.length).toBe(MAX_PRESETS);
    expect(p).toContain(20 * M);
    expect(p).toContain(7 * D);
    expect(p.every((d) => d <= 7 * D)).toBe(true);
    expect([...p].sort((a, b) => a - b)).toEqual(p);
    expect(new Set(p).size).toBe(p.length);
  });

  it('has nothing to offer without a maximum', () => {
    expect(durationPresets(0, 0)).toEqual([]);
  });
});

describe('initialDuration', () => {
  const policy = { maxDurationMs: H, defaultDurationMs: 30 * M };
  it('takes my preferred default when the role allows it, else the policy default', () => {
    expect(initialDuration(policy, 15 * M)).toBe(15 * M);
    expect(initialDuration(policy, 2 * H)).toBe(30 * M);
    expect(initialDuration(policy, null)).toBe(30 * M);
  });
  it('never starts above the maximum', () => {
    expect(initialDuration({ maxDurationMs: H, defaultDurationMs: 2 * H }, null)).toBe(H);
  });
});

describe('parseCustomDuration', () => {
  it('reads what people write', () => {
    expect(parseCustomDuration('45m', H)).toEqual({ ok: true, ms: 45 * M });
    expect(parseCustomDuration(' 1h ', H)).toEqual({ ok: true, ms: H });
  });
  it('refuses more than the maximum, naming it', () => {
    expect(parseCustomDuration('61m', H)).toEqual({ ok: false, message: 'At most 1h for this role; ask for 1h or less.' });
  });
  it('says how to write a duration', () => {
    const r = parseCustomDuration('an hour', H);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(/write it like 45m/);
    expect(parseCustomDuration('', H).ok).toBe(false);
  });
});

describe('durationLabel', () => {
  it.each([
    [30 * M, '30 min'],
    [H, '1 h'],
    [90 * M, '1 h 30 min'],
    [2 * D, '2 d'],
    [45_000, '45 s'],
  ])('%d ms → %s', (ms, text) => expect(durationLabel(ms)).toBe(text));
});
