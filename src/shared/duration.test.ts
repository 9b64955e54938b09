import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('parseDuration', () => {
  it.each([
    ['30m', 30 * M], ['2h', 2 * H], ['1h30m', 90 * M], ['90s', 90 * S], ['1d', D], ['1d2h3m4s', D + 2 * H + 3 * M + 4 * S],
    [' 45m ', 45 * M], ['PT30M', 30 * M], ['PT1H', H], ['P1D', D], ['P1DT1H', D + H], ['pt15m', 15 * M],
  ])('%j → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '   ', '0m', '0s', 'PT0S', '-5m', '5', 'm', '1.5h', '5 m', '1m1h', 'P', 'PT', 'ten minutes', '30min', '1'.repeat(40) + 's', '99999999999999999999d'])(
    'refuses %j',
    (text) => {
      expect(parseDuration(text)).toBeNull();
    },
  );
});

describe('formatDuration', () => {
  it.each([
    [30 * M, '30m'], [2 * H, '2h'], [90 * M, '1h30m'], [45 * S, '45s'], [2 * D, '2d'], [D + H + M + S, '1d1h1m1s'], [0, '0s'], [-5, '0s'], [400, '0s'], [1500, '2s'],
  ])('%d ms → %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips every whole-second duration', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400 * 24 * 3600 }), (seconds) => {
        expect(parseDuration(formatDuration(seconds * S))).toBe(seconds * S);
      }),
    );
  });
});
