/**
 * The approvals queue: the requests I may review, newest first, each with what I can do about it.
 * Decided requests stay where they were, with who decided ("Approved by carol"), so a card someone
 * else decided while I was reading it changes in place instead of vanishing under my cursor.
 */
import type { RequestView } from '../../../src/shared/api.js';
import { countdown, toMs, type Countdown } from '../../../src/shared/countdown.js';
import { requestOutcome, type Outcome } from './outcome.js';
import { formatAge } from './time.js';

export type ApprovalStatus =
  /** Pending and mine to decide: Approve / Deny. */
  | { kind: 'awaiting' }
  /** Pending, but I cannot act (already reviewed, my own request…): says why. */
  | { kind: 'blocked'; text: string }
  | { kind: 'decided'; outcome: Outcome };

export interface ApprovalItem {
  request: RequestView;
  status: ApprovalStatus;
  /** `asked 3 min ago` */
  age: string;
  /** Until it times out (pending ones). */
  approveWithin: Countdown;
}

export interface ApprovalQueue {
  items: ApprovalItem[];
  /** How many wait for my decision. */
  waiting: number;
}

/** Decided requests stay visible this long after their decision. */
export const RECENTLY_DECIDED_MS = 12 * 3_600_000;

export function approvalQueue(reviewQueue: readonly RequestView[], me: string | null, now: number, serverOffsetMs: number, recentMs = RECENTLY_DECIDED_MS): ApprovalQueue {
  const at = now + serverOffsetMs;
  const items: ApprovalItem[] = [];
  for (const r of reviewQueue) {
    if (r.state !== 'pending' && at - toMs(r.decidedAt ?? r.createdAt) > recentMs) continue;
    items.push({ request: r, status: statusOf(r, me), age: formatAge(at - toMs(r.createdAt)), approveWithin: countdown(r.requestExpiresAt, now, serverOffsetMs) });
  }
  return { items, waiting: items.filter((i) => i.status.kind === 'awaiting').length };
}

function statusOf(r: RequestView, me: string | null): ApprovalStatus {
  if (r.state !== 'pending') return { kind: 'decided', outcome: requestOutcome(r, me) };
  const mine = r.reviews.find((v) => v.reviewer === me);
  if (mine) {
    const approvals = r.reviews.filter((v) => v.decision === 'approve').length;
    const more = Math.max(0, r.approvalsNeeded - approvals);
    const did = mine.decision === 'approve' ? 'You approved' : 'You denied';
    return { kind: 'blocked', text: more > 0 ? `${did}; waiting for ${more} more approval${more === 1 ? '' : 's'}` : did };
  }
  if (r.requester === me) return { kind: 'blocked', text: 'Your own request: another approver decides' };
  if (!r.canReview) return { kind: 'blocked', text: 'You cannot review this request' };
  return { kind: 'awaiting' };
}
