import { describe, expect, it } from 'vitest';
import { approvalQueue } from './approvals.js';
import { isoAt, MIN, requestView, T0 } from './test-fixtures.js';

describe('approvalQueue', () => {
  it('offers Approve / Deny on what waits for me, with its age and approve-by countdown', () => {
    const q = approvalQueue([requestView({ canReview: true, createdAt: isoAt(-3), requestExpiresAt: isoAt(30) })], 'bob', T0, 0);
    expect(q.waiting).toBe(1);
    expect(q.items[0]).toMatchObject({ status: { kind: 'awaiting' }, age: '3 min ago', approveWithin: { text: '0:30:00' } });
  });

  it('keeps a request someone else decided in place, saying who', () => {
    const queue = [
      requestView({ id: 'req_newer00001', canReview: true }),
      requestView({ id: 'req_decided001', state: 'approved', decidedBy: 'carol', decidedAt: isoAt(-1), canReview: false }),
      requestView({ id: 'req_older00001', canReview: true }),
    ];
    const q = approvalQueue(queue, 'bob', T0, 0);
    expect(q.items.map((i) => i.request.id)).toEqual(['req_newer00001', 'req_decided001', 'req_older00001']);
    expect(q.items[1]!.status).toEqual({ kind: 'decided', outcome: { tone: 'good', text: 'Approved by carol', comment: null } });
    expect(q.waiting).toBe(2);
  });

  it('lets old decisions go', () => {
    const q = approvalQueue([requestView({ state: 'denied', decidedBy: 'carol', decidedAt: isoAt(-13 * 60) })], 'bob', T0, 0);
    expect(q.items).toEqual([]);
  });

  it('says why I cannot act on a pending request', () => {
    const reviewed = requestView({ approvalsNeeded: 2, canReview: false, reviews: [{ reviewer: 'bob', decision: 'approve', comment: null, at: isoAt(-1) }] });
    expect(approvalQueue([reviewed], 'bob', T0, 0).items[0]!.status).toEqual({ kind: 'blocked', text: 'You approved; waiting for 1 more approval' });
    const own = requestView({ requester: 'bob', canReview: false });
    expect(approvalQueue([own], 'bob', T0, 0).items[0]!.status).toEqual({ kind: 'blocked', text: 'Your own request: another approver decides' });
    expect(approvalQueue([own], 'bob', T0, 0).waiting).toBe(0);
  });

  it('counts the approve-by time from the server clock', () => {
    const q = approvalQueue([requestView({ canReview: true, requestExpiresAt: isoAt(2 * 60) })], 'bob', T0 - 10 * MIN, 10 * MIN);
    expect(q.items[0]!.approveWithin.text).toBe('2:00:00');
  });
});
