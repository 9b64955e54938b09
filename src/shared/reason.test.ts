import { describe, expect, it } from 'vitest';
import { REASON_MAX, REASON_MIN, checkReason } from './reason.js';

describe('checkReason (B24)', () => {
  it.each([
    ['   ', 'reason_invalid'],
    ['.', 'reason_invalid'],
    ['\u0000abc', 'reason_invalid'],
    ['\u0000abcdefghijklmnop', 'reason_invalid'],
    ['restart the\u0007 replica', 'reason_invalid'],
    ['line one\nline two of it', 'reason_invalid'],
    ['tab\tseparated reason', 'reason_invalid'],
    ['short', 'reason_invalid'],
    ['a'.repeat(1025), 'reason_too_long'],
  ])('refuses %j with %s', (raw, code) => {
    const r = checkReason(raw, true);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe(code);
      expect(r.message.length).toBeGreaterThan(10);
    }
  });

  it('requires a reason when the policy does, and says so', () => {
    expect(checkReason(undefined, true)).toMatchObject({ ok: false, code: 'reason_required' });
    expect(checkReason('', true)).toMatchObject({ ok: false, code: 'reason_required' });
  });

  it('accepts no reason when none is required, but still checks one that is given', () => {
    expect(checkReason(undefined, false)).toEqual({ ok: true, reason: '' });
    expect(checkReason('   ', false)).toEqual({ ok: true, reason: '' });
    expect(checkReason('.', false)).toMatchObject({ ok: false, code: 'reason_invalid' });
  });

  it('stores the reason trimmed', () => {
    expect(checkReason('  INC-1234 restart replica  ', true)).toEqual({ ok: true, reason: 'INC-1234 restart replica' });
  });

  it('accepts exactly the minimum and the maximum length', () => {
    expect(checkReason('a'.repeat(REASON_MIN), true).ok).toBe(true);
    expect(checkReason('a'.repeat(REASON_MIN - 1), true).ok).toBe(false);
    expect(checkReason('a'.repeat(REASON_MAX), true).ok).toBe(true);
  });

  it('counts multibyte text and emoji in characters, not bytes or UTF-16 units', () => {
    const emoji = '🔥'.repeat(REASON_MAX); // 4 bytes, 2 UTF-16 units each
    expect(checkReason(emoji, true)).toEqual({ ok: true, reason: emoji });
    expect(checkReason('🔥'.repeat(REASON_MAX + 1), true)).toMatchObject({ ok: false, code: 'reason_too_long' });
    // 10 characters of Cyrillic (20 bytes) meets the minimum; 9 does not.
    expect(checkReason('инцидент12', true).ok).toBe(true);
    expect(checkReason('🔥'.repeat(REASON_MIN - 1), true).ok).toBe(false);
  });

  it('counts the length after trimming', () => {
    expect(checkReason(`  ${'a'.repeat(REASON_MAX)}  `, true).ok).toBe(true);
    expect(checkReason(`   ${'a'.repeat(REASON_MIN - 1)}   `, true).ok).toBe(false);
  });
});

describe('invisible characters an approver could be misled by', () => {
  it.each([
    ['a right-to-left override', 'INC-1 check \u202Ethe replica'],
    ['a zero-width space', 'INC-1 check\u200Bthe replica'],
    ['a line separator', 'INC-1 check\u2028APPROVED by security'],
    ['a lone surrogate', 'INC-1 check the \ud800 replica'],
  ])('refuses %s', (_what, reason) => {
    expect(checkReason(reason, true)).toMatchObject({ ok: false, code: 'reason_invalid' });
  });
});
