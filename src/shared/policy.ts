/**
 * Policy evaluation: pure functions of (config or policy snapshot, user, input). A request keeps
 * the policy it was made under (a snapshot), so a reload never changes a pending decision.
 */
import type { LatchConfig, Policy } from './config.js';
import { formatDuration } from './duration.js';
import { hasOwn, own } from './own.js';

export interface Principal {
  name: string;
  groups: readonly string[];
  admin: boolean;
}

export type Review = { reviewer: string; decision: 'approve' | 'deny' };

export function policyFor(config: LatchConfig, resource: string, role: string): Policy | undefined {
  const r = own(config.resources, resource);
  if (!r || !hasOwn(r.roles, role)) return undefined;
  return config.policies.find((p) => p.resource === resource && (p.roles === undefined || p.roles.includes(role)));
}

const inAny = (groups: readonly string[], wanted: readonly string[]) => groups.some((g) => wanted.includes(g));

export function mayRequest(user: Principal, policy: Policy): boolean {
  return inAny(user.groups, policy.requesters);
}

export function isApprover(user: Principal, policy: Policy): boolean {
  return policy.approvers.users.includes(user.name) || inAny(user.groups, policy.approvers.groups);
}

/** Whether `user` may review a request by `requester` under `policy` (self-review only where allowed). */
export function mayReview(user: Principal, requester: string, policy: Policy): boolean {
  if (!isApprover(user, policy)) return false;
  return user.name !== requester || policy.selfApproval;
}

export function autoApproves(user: Principal, policy: Policy, role: string): boolean {
  return policy.autoApprove.some((rule) => inAny(user.groups, rule.groups) && (rule.roles === undefined || rule.roles.includes(role)));
}

export type DurationCheck =
  | { ok: true; ms: number }
  | { ok: false; code: 'duration_exceeds_max'; message: string; max: string };

/** The duration a request gets: the asked one within the maximum, or the policy default (never above the maximum). */
export function checkDuration(requested: number | undefined, max: number, fallback?: number): DurationCheck {
  if (requested === undefined) return { ok: true, ms: Math.min(fallback ?? max, max) };
  if (requested > max) {
    return { ok: false, code: 'duration_exceeds_max', max: formatDuration(max), message: `the most this policy allows is ${formatDuration(max)}; ask for ${formatDuration(max)} or less` };
  }
  return { ok: true, ms: requested };
}

/**
 * The outcome of the reviews so far: approved once `approvals` distinct approvers said yes;
 * denied on the first deny when `denyEndsRequest`, else once the approvals can no longer be reached.
 */
export function reviewOutcome(reviews: readonly Review[], policy: Policy, eligibleReviewers: number): 'approved' | 'denied' | 'pending' {
  const approvers = new Set(reviews.filter((r) => r.decision === 'approve').map((r) => r.reviewer));
  const deniers = new Set(reviews.filter((r) => r.decision === 'deny').map((r) => r.reviewer));
  if (deniers.size > 0 && policy.denyEndsRequest) return 'denied';
  if (approvers.size >= policy.approvals) return 'approved';
  if (eligibleReviewers - deniers.size < policy.approvals) return 'denied';
  return 'pending';
}

/** The approvers a person can be shown: groups and named users. */
export function describeApprovers(policy: Policy): string[] {
  return [...policy.approvers.groups.map((g) => `group:${g}`), ...policy.approvers.users.map((u) => `user:${u}`)];
}
