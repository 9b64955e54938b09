import { describe, expect, it } from 'vitest';
import { countdown, EXPIRED_TEXT, formatCountdown, formatRemainingCoarse, remainingMs } from './countdown.js';

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('formatCountdown', () => {
  it.each([
    [0, '0:00:00'],
    [1, '0:00:01'],
    [999, '0:00:01'],
    [1_000, '0:00:01'],
    [1_001, '0:00:02'],
    [59_999, '0:01:00'],
    [5 * M, '0:05:00'],
    [H - S, '0:59:59'],
    [H, '1:00:00'],
    [10 * H + 2 * M + 3 * S, '10:02:03'],
    [D - S, '23:59:59'],
    [D, '1d 00:00:00'],
    [D + 2 * H + 3 * M + 4 * S, '1d 02:03:04'],
    [12 * D + 5 * S, '12d 00:00:05'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatCountdown(ms)).toBe(text);
  });

  it('is never negative, nor NaN', () => {
    expect(formatCountdown(-5_000)).toBe('0:00:00');
    expect(formatCountdown(Number.NaN)).toBe('0:00:00');
  });

  it('keeps minutes and seconds two digits wide, so the text does not jitter', () => {
    const widths = new Set([1, 9_000, 61_000, 599_000, 3_599_000].map((ms) => formatCountdown(ms).length));
    expect([...widths]).toEqual([7]);
  });
});

describe('countdown', () => {
  const expiresAt = Date.UTC(2026, 0, 5, 11, 0, 0);

  it('is expiresAt − (now + serverOffset)', () => {
    const now = Date.UTC(2026, 0, 5, 10, 20, 0);
    expect(remainingMs(expiresAt, now, 0)).toBe(40 * M);
    // The server's clock runs 90 s ahead of this laptop's: 90 s less remain.
    expect(remainingMs(expiresAt, now, 90 * S)).toBe(40 * M - 90 * S);
    expect(remainingMs(new Date(expiresAt).toISOString(), now, -30 * S)).toBe(40 * M + 30 * S);
    expect(countdown(expiresAt, now, 90 * S)).toEqual({ state: 'running', remainingMs: 38 * M + 30 * S, text: '0:38:30' });
  });

  it('is expired at the end and after it (a laptop that slept through), never negative', () => {
    expect(countdown(expiresAt, expiresAt, 0)).toEqual({ state: 'expired', remainingMs: 0, text: EXPIRED_TEXT });
    expect(countdown(expiresAt, Date.UTC(2026, 0, 5, 12, 20, 0), 0)).toEqual({ state: 'expired', remainingMs: 0, text: 'Expired' });
    expect(countdown(expiresAt, expiresAt - 1, 0)).toMatchObject({ state: 'running', text: '0:00:01' });
  });

  it('shows an end it cannot read as expired, not as running', () => {
    expect(countdown('not a time', 0, 0).state).toBe('expired');
  });
});

describe('formatRemainingCoarse', () => {
  it.each([
    [0, '0m'],
    [1, '1m'],
    [42 * M - 10 * S, '42m'],
    [59 * M, '59m'],
    [H, '1h 00m'],
    [H + 5 * M, '1h 05m'],
    [D - M, '23h 59m'],
    [D, '1d 0h'],
    [2 * D + 3 * H + 59 * S, '2d 3h'],
    [-M, '0m'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatRemainingCoarse(ms)).toBe(text);
  });
});
