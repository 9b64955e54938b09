/** What a person may request, with each policy's limits and approvers (`GET /v1/resources`). */
import type { ResourceView } from '../../shared/api.js';
import type { LatchConfig } from '../../shared/config.js';
import { autoApproves, describeApprovers, mayRequest, policyFor, type Principal } from '../../shared/policy.js';

export function listRequestable(config: LatchConfig, user: Principal): ResourceView[] {
  const out: ResourceView[] = [];
  for (const [name, resource] of Object.entries(config.resources).sort(([a], [b]) => a.localeCompare(b))) {
    const roles: ResourceView['roles'] = [];
    for (const [role, def] of Object.entries(resource.roles)) {
      const policy = policyFor(config, name, role);
      if (!policy || !mayRequest(user, policy)) continue;
      roles.push({
        role,
        description: def.description ?? null,
        maxDurationMs: policy.maxDuration,
        defaultDurationMs: Math.min(policy.defaultDuration ?? policy.maxDuration, policy.maxDuration),
        reasonRequired: policy.reasonRequired,
        approvalsNeeded: policy.approvals,
        approvers: describeApprovers(policy),
        autoApproved: autoApproves(user, policy, role),
        scheduledStart: policy.scheduledStart.allowed,
        breakGlass: policy.breakGlass.allowed,
        extensions: { max: policy.extensions.max, maxDurationMs: policy.extensions.maxDuration ?? policy.maxDuration, requireApproval: policy.extensions.requireApproval },
        approveWithinMs: policy.approveWithin,
      });
    }
    if (roles.length > 0) out.push({ name, description: resource.description ?? null, connector: resource.connector, roles });
  }
  return out;
}
