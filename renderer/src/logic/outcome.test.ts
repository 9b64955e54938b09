import { describe, expect, it } from 'vitest';
import { approverLabel, describeApprovers, grantOutcome, requestOutcome } from './outcome.js';
import { grantView, requestView } from './test-fixtures.js';

describe('approvers', () => {
  it('names groups and people', () => {
    expect(approverLabel('group:sre')).toBe('anyone in sre');
    expect(approverLabel('user:bob')).toBe('bob');
    expect(describeApprovers(['group:sre'])).toBe('anyone in sre');
    expect(describeApprovers(['group:sre', 'group:dba', 'user:bob'])).toBe('anyone in sre, anyone in dba or bob');
    expect(describeApprovers([])).toBe('no approvers');
  });
});

describe('requestOutcome', () => {
  it('names who approved or denied, and "you" for me', () => {
    expect(requestOutcome(requestView({ state: 'approved', decidedBy: 'carol' }), 'bob').text).toBe('Approved by carol');
    expect(requestOutcome(requestView({ state: 'approved', decidedBy: 'bob' }), 'bob').text).toBe('Approved by you');
    const denied = requestOutcome(requestView({ state: 'denied', decidedBy: 'carol', decisionComment: 'use the replica' }), 'alice');
    expect(denied).toEqual({ tone: 'bad', text: 'Denied by carol', comment: 'use the replica' });
  });

  it('does not pass a system note off as a comment', () => {
    const auto = requestOutcome(requestView({ state: 'approved', decidedBy: 'policy', decisionComment: 'approved automatically by policy' }), 'alice');
    expect(auto).toEqual({ tone: 'good', text: 'Approved automatically by policy', comment: null });
    const timedOut = requestOutcome(requestView({ state: 'timed_out', decisionComment: 'expired: no decision before the approve-by deadline' }), 'alice');
    expect(timedOut.comment).toBeNull();
    expect(timedOut.text).toMatch(/Timed out/);
  });

  it('says who cancelled', () => {
    expect(requestOutcome(requestView({ state: 'cancelled', decidedBy: 'alice' }), 'alice').text).toBe('Cancelled by you');
    expect(requestOutcome(requestView({ state: 'cancelled', decidedBy: 'alice' }), 'bob').text).toBe('Cancelled by alice');
  });

  it('counts approvals while several are needed', () => {
    const r = requestView({ approvalsNeeded: 2, reviews: [{ reviewer: 'bob', decision: 'approve', comment: null, at: '2026-01-05T10:01:00Z' }] });
    expect(requestOutcome(r, 'alice').text).toBe('Waiting for approval (1 of 2)');
    expect(requestOutcome(requestView(), 'alice').text).toBe('Waiting for approval');
  });
});

describe('grantOutcome', () => {
  it('says how a grant ended', () => {
    expect(grantOutcome(grantView({ state: 'ended', endReason: 'expired' })).text).toBe('Expired');
    expect(grantOutcome(grantView({ state: 'ended', endReason: 'ended_by_user' })).text).toBe('Ended by you');
    expect(grantOutcome(grantView({ state: 'ended', endReason: 'revoked_by_admin' })).text).toBe('Revoked by an admin');
  });

  it('gives the failure reason and the revoke error as they were given', () => {
    expect(grantOutcome(grantView({ state: 'failed', failureReason: 'PostgreSQL at db:5432 refused the connection' }))).toEqual({
      tone: 'bad', text: 'Could not be granted', comment: 'PostgreSQL at db:5432 refused the connection',
    });
    expect(grantOutcome(grantView({ state: 'revoking', revokeAttempts: 3, lastRevokeError: 'timeout' })).text).toBe('Ending: revoke retrying (attempt 3)');
  });
});
