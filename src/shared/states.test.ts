import { describe, expect, it } from 'vitest';
import {
  GRANT_STATES, REQUEST_STATES, UNFINISHED_GRANT_STATES, assertNever, canMoveGrant, canMoveRequest, isGrantLive, isRequestDecided, type GrantState,
} from './states.js';

describe('request state machine', () => {
  it('a pending request can reach every outcome', () => {
    for (const to of ['approved', 'denied', 'cancelled', 'timed_out'] as const) expect(canMoveRequest('pending', to)).toBe(true);
  });

  it('a decided request cannot be decided again (no deny-after-approve, B17)', () => {
    for (const from of ['approved', 'denied', 'cancelled', 'timed_out'] as const) {
      for (const to of REQUEST_STATES) expect(canMoveRequest(from, to), `${from} → ${to}`).toBe(false);
      expect(isRequestDecided(from)).toBe(true);
    }
    expect(isRequestDecided('pending')).toBe(false);
  });

  it('nothing moves back to pending', () => {
    for (const from of REQUEST_STATES) expect(canMoveRequest(from, 'pending')).toBe(false);
  });
});

describe('grant state machine', () => {
  const allowed: [GrantState, GrantState][] = [
    ['scheduled', 'provisioning'], ['scheduled', 'ended'],
    ['provisioning', 'active'], ['provisioning', 'failed'], ['provisioning', 'revoking'],
    ['active', 'revoking'], ['revoking', 'ended'],
  ];

  it('allows exactly the documented transitions', () => {
    for (const from of GRANT_STATES) {
      for (const to of GRANT_STATES) {
        const expected = allowed.some(([f, t]) => f === from && t === to);
        expect(canMoveGrant(from, to), `${from} → ${to}`).toBe(expected);
      }
    }
  });

  it('a failed provisioning never becomes active (B03)', () => {
    expect(canMoveGrant('provisioning', 'failed')).toBe(true);
    expect(canMoveGrant('failed', 'active')).toBe(false);
  });

  it('an active grant only ends through a revoke, never straight to ended', () => {
    expect(canMoveGrant('active', 'ended')).toBe(false);
    expect(canMoveGrant('active', 'revoking')).toBe(true);
  });

  it('ended and failed are terminal', () => {
    for (const terminal of ['ended', 'failed'] as const) {
      for (const to of GRANT_STATES) expect(canMoveGrant(terminal, to)).toBe(false);
    }
  });

  it('live grants are the ones that give or may soon give access', () => {
    const live = GRANT_STATES.filter(isGrantLive);
    expect(live).toEqual(['scheduled', 'provisioning', 'active']);
  });

  it('unfinished grants are exactly the ones that can still move (the lists always show them)', () => {
    expect(GRANT_STATES.filter((from) => GRANT_STATES.some((to) => canMoveGrant(from, to)))).toEqual([...UNFINISHED_GRANT_STATES]);
  });
});

describe('assertNever', () => {
  it('throws naming the unhandled value', () => {
    expect(() => assertNever('bogus' as never, 'grant state')).toThrow('unhandled grant state: bogus');
  });
});

