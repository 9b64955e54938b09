/** Views with fixed times for the renderer's pure tests (like src/desktop/test-support, which the renderer may not import). */
import type { GrantView, RequestView, ResourceView, UserView } from '../../../src/shared/api.js';
import type { DesktopSnapshot } from '../../../src/shared/desktop-api.js';

/** 10:00:00 UTC, a Monday. */
export const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
export const MIN = 60_000;
export const at = (minutes: number): number => T0 + minutes * MIN;
export const isoAt = (minutes: number): string => new Date(at(minutes)).toISOString();

export const USERS: Record<'alice' | 'bob' | 'carol', UserView> = {
  alice: { name: 'alice', groups: ['eng'], admin: false },
  bob: { name: 'bob', groups: ['sre'], admin: false },
  carol: { name: 'carol', groups: ['sre'], admin: false },
};

export function requestView(over: Partial<RequestView> = {}): RequestView {
  return {
    id: 'req_0000000001', kind: 'access', state: 'pending', requester: 'alice', resource: 'pg-prod', role: 'readonly',
    durationMs: 60 * MIN, reason: 'INC-1 restart replica', startAt: null, breakGlass: false, createdAt: isoAt(0),
    requestExpiresAt: isoAt(24 * 60), decidedAt: null, decidedBy: null, decisionComment: null, reviews: [],
    approvalsNeeded: 1, approvers: ['group:sre'], grantId: null, canReview: false, ...over,
  };
}

export function grantView(over: Partial<GrantView> = {}): GrantView {
  return {
    id: 'gr_0000000001', requestId: 'req_0000000001', user: 'alice', resource: 'pg-prod', role: 'readonly', connector: 'postgres',
    state: 'active', endReason: null, durationMs: 60 * MIN, startAt: null, activatedAt: isoAt(0), expiresAt: isoAt(60), endedAt: null,
    failureReason: null, extensionsUsed: 0, extensionsAllowed: 2, breakGlass: false, hasCredential: true, revokeAttempts: 0, lastRevokeError: null,
    ...over,
  };
}

export type RolePolicy = ResourceView['roles'][number];

export function rolePolicy(over: Partial<RolePolicy> = {}): RolePolicy {
  return {
    role: 'readonly', description: 'Read-only', maxDurationMs: 60 * MIN, defaultDurationMs: 30 * MIN, reasonRequired: true,
    approvalsNeeded: 1, approvers: ['group:sre'], autoApproved: false, scheduledStart: false, breakGlass: false,
    extensions: { max: 2, maxDurationMs: 30 * MIN, requireApproval: true }, approveWithinMs: 24 * 60 * MIN, ...over,
  };
}

export function resourceView(over: Partial<ResourceView> = {}): ResourceView {
  return { name: 'pg-prod', description: 'Production PostgreSQL', connector: 'postgres', roles: [rolePolicy()], ...over };
}

export function snapshot(over: Partial<DesktopSnapshot> = {}): DesktopSnapshot {
  return {
    phase: 'ready', serverUrl: 'https://latch.example.com', user: USERS.alice,
    connection: { state: 'live', since: isoAt(0), detail: null }, stale: null,
    keychain: { status: 'available', message: 'Secrets are kept in the Secret Service.' },
    requests: [], reviewQueue: [], grants: [], resources: [], notices: [], now: T0, serverOffsetMs: 0, ...over,
  };
}
