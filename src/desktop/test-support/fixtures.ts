/** Views and snapshots with fixed times, for the pure tests (intents, tray model, state). */
import type { GrantView, RequestView, UserView } from '../../shared/api.js';
import type { DesktopSnapshot } from '../../shared/desktop-api.js';
import type { AgentData, AgentView } from '../state.js';

/** 10:00:00 UTC. */
export const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
export const MIN = 60_000;
export const at = (minutes: number): number => T0 + minutes * MIN;
export const isoAt = (minutes: number): string => new Date(at(minutes)).toISOString();

export const USERS: Record<'alice' | 'bob' | 'carol' | 'admin', UserView> = {
  alice: { name: 'alice', groups: ['eng'], admin: false },
  bob: { name: 'bob', groups: ['sre'], admin: false },
  carol: { name: 'carol', groups: ['sre'], admin: false },
  admin: { name: 'admin', groups: [], admin: true },
};

export function requestView(over: Partial<RequestView> = {}): RequestView {
  return {
    id: 'req_0000000001', kind: 'access', state: 'pending', requester: 'alice', resource: 'pg-prod', role: 'readonly',
    durationMs: 60 * MIN, reason: 'INC-1 restart replica', startAt: null, breakGlass: false, createdAt: isoAt(0),
    requestExpiresAt: isoAt(24 * 60), decidedAt: null, decidedBy: null, decisionComment: null, reviews: [],
    approvalsNeeded: 1, approvers: ['group:sre'], grantId: null, canReview: true, ...over,
  };
}

export function grantView(over: Partial<GrantView> = {}): GrantView {
  return {
    id: 'gr_0000000001', requestId: 'req_0000000001', user: 'alice', resource: 'pg-prod', role: 'readonly', connector: 'pass',
    state: 'active', endReason: null, durationMs: 60 * MIN, startAt: null, activatedAt: isoAt(0), expiresAt: isoAt(60), endedAt: null,
    failureReason: null, extensionsUsed: 0, extensionsAllowed: 2, breakGlass: false, hasCredential: true, revokeAttempts: 0, lastRevokeError: null,
    ...over,
  };
}

export function agentData(over: Partial<AgentData> = {}): AgentData {
  return { user: USERS.alice, resources: [], requests: [], reviewQueue: [], grants: [], ...over };
}

/** The data as evaluated at `minutes` past 10:00. */
export function viewAt(minutes: number, over: Partial<AgentData> = {}, loaded = true): AgentView {
  return { loaded, at: at(minutes), data: agentData(over) };
}

export function snapshot(over: Partial<DesktopSnapshot> = {}): DesktopSnapshot {
  return {
    phase: 'ready', serverUrl: 'https://latch.example.com', user: USERS.alice,
    connection: { state: 'live', since: isoAt(0), detail: null }, stale: null,
    keychain: { status: 'available', message: 'secrets are kept in the Secret Service' },
    requests: [], reviewQueue: [], grants: [], resources: [], notices: [], now: T0, serverOffsetMs: 0, ...over,
  };
}
