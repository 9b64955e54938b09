/**
 * Words for who decides and what happened: approvers (`group:sre`, `user:bob` on the wire),
 * request outcomes ("Approved by carol", "Denied by you") and grant endings ("Ended by you").
 */
import type { GrantView, RequestView } from '../../../src/shared/api.js';
import { assertNever } from '../../../src/shared/states.js';

/** `group:sre` → `anyone in sre`; `user:bob` → `bob`. */
export function approverLabel(entry: string): string {
  if (entry.startsWith('group:')) return `anyone in ${entry.slice('group:'.length)}`;
  if (entry.startsWith('user:')) return entry.slice('user:'.length);
  return entry;
}

/** `anyone in sre or bob`; a policy without approvers says so. */
export function describeApprovers(entries: readonly string[]): string {
  const labels = entries.map(approverLabel);
  if (labels.length === 0) return 'no approvers';
  if (labels.length === 1) return labels[0]!;
  return `${labels.slice(0, -1).join(', ')} or ${labels[labels.length - 1]}`;
}

export type Tone = 'good' | 'bad' | 'neutral' | 'waiting';

export interface Outcome {
  tone: Tone;
  /** `Approved by carol` */
  text: string;
  /** What the person who decided wrote; null for system decisions and none. */
  comment: string | null;
}

/** Decisions made by the server, not by a person (their comment is a system note). */
const SYSTEM_DECIDERS = new Set(['policy', 'break-glass']);

const by = (who: string | null, me: string | null) => (who === null ? '' : who === me ? ' by you' : ` by ${who}`);

export function requestOutcome(r: RequestView, me: string | null): Outcome {
  const person = r.decidedBy !== null && !SYSTEM_DECIDERS.has(r.decidedBy);
  const comment = person && r.decisionComment ? r.decisionComment : null;
  switch (r.state) {
    case 'pending': {
      const approvals = r.reviews.filter((v) => v.decision === 'approve').length;
      const text = r.approvalsNeeded > 1 ? `Waiting for approval (${approvals} of ${r.approvalsNeeded})` : 'Waiting for approval';
      return { tone: 'waiting', text, comment: null };
    }
    case 'approved':
      if (r.decidedBy === 'policy') return { tone: 'good', text: 'Approved automatically by policy', comment: null };
      if (r.decidedBy === 'break-glass') return { tone: 'good', text: 'Granted at once (break-glass)', comment: null };
      return { tone: 'good', text: `Approved${by(r.decidedBy, me)}`, comment };
    case 'denied':
      return { tone: 'bad', text: `Denied${by(r.decidedBy, me)}`, comment };
    case 'cancelled':
      // The requester cancelling their own request reads "Cancelled"; someone else is named.
      return { tone: 'neutral', text: r.decidedBy === null ? 'Cancelled (the grant ended first)' : r.decidedBy === r.requester && r.requester !== me ? `Cancelled by ${r.requester}` : `Cancelled${by(r.decidedBy, me)}`, comment: null };
    case 'timed_out':
      return { tone: 'neutral', text: 'Timed out: nobody decided in time', comment: null };
    default:
      return assertNever(r.state, 'request state');
  }
}

/** How a grant that no longer gives access ended. */
export function grantOutcome(g: GrantView): Outcome {
  switch (g.state) {
    case 'failed':
      return { tone: 'bad', text: 'Could not be granted', comment: g.failureReason };
    case 'revoking':
      return {
        tone: 'waiting',
        text: g.revokeAttempts > 1 ? `Ending: revoke retrying (attempt ${g.revokeAttempts})` : 'Ending: being revoked',
        comment: g.lastRevokeError,
      };
    case 'ended':
      switch (g.endReason) {
        case 'expired':
        case null:
          return { tone: 'neutral', text: 'Expired', comment: null };
        case 'ended_by_user':
          return { tone: 'neutral', text: 'Ended by you', comment: null };
        case 'revoked_by_admin':
          return { tone: 'bad', text: 'Revoked by an admin', comment: null };
        default:
          return assertNever(g.endReason, 'end reason');
      }
    case 'scheduled':
    case 'provisioning':
    case 'active':
      return { tone: 'good', text: 'Live', comment: null };
    default:
      return assertNever(g.state, 'grant state');
  }
}
