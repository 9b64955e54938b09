/** Rows → the API's views. Secrets (credentials, public keys) never leave through a view. */
import type { GrantView, RequestView } from '../../shared/api.js';
import type { Policy } from '../../shared/config.js';
import { describeApprovers, mayReview, type Principal } from '../../shared/policy.js';
import type { GrantsTable, RequestsTable, ReviewsTable } from '../store/schema.js';

const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());
export const policyOf = (row: { policy_json: string }) => JSON.parse(row.policy_json) as Policy;

export function requestView(row: RequestsTable, reviews: readonly ReviewsTable[], viewer: Principal): RequestView {
  const policy = policyOf(row);
  const mine = reviews.filter((r) => r.request_id === row.id);
  return {
    id: row.id,
    kind: row.kind,
    state: row.state,
    requester: row.requester,
    resource: row.resource,
    role: row.role,
    durationMs: Number(row.duration_ms),
    reason: row.reason,
    startAt: isoOrNull(row.start_at),
    breakGlass: row.break_glass === 1,
    createdAt: new Date(Number(row.created_at)).toISOString(),
    requestExpiresAt: new Date(Number(row.request_expires_at)).toISOString(),
    decidedAt: isoOrNull(row.decided_at),
    decidedBy: row.decided_by,
    decisionComment: row.decision_comment,
    reviews: mine.map((r) => ({ reviewer: r.reviewer, decision: r.decision, comment: r.comment, at: new Date(Number(r.at)).toISOString() })),
    approvalsNeeded: policy.approvals,
    approvers: describeApprovers(policy),
    grantId: row.grant_id,
    canReview: row.state === 'pending' && mayReview(viewer, row.requester, policy) && !mine.some((r) => r.reviewer === viewer.name),
  };
}

export function grantView(row: GrantsTable): GrantView {
  const policy = policyOf(row);
  return {
    id: row.id,
    requestId: row.request_id,
    user: row.user_name,
    resource: row.resource,
    role: row.role,
    connector: row.connector,
    state: row.state,
    endReason: row.end_reason,
    durationMs: Number(row.duration_ms),
    startAt: isoOrNull(row.start_at),
    activatedAt: isoOrNull(row.activated_at),
    expiresAt: isoOrNull(row.expires_at),
    endedAt: isoOrNull(row.ended_at),
    failureReason: row.failure_reason,
    extensionsUsed: row.extensions_used,
    extensionsAllowed: policy.extensions.max,
    breakGlass: row.break_glass === 1,
    hasCredential: row.credential_enc !== null && row.state === 'active',
    revokeAttempts: row.revoke_attempts,
    lastRevokeError: row.last_revoke_error,
  };
}
