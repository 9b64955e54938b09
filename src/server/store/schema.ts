/** Table types of the store. Times are epoch milliseconds; JSON columns are text. */
import type { EndReason, GrantState, RequestKind, RequestState } from '../../shared/states.js';

export interface UsersTable { name: string; admin: number; created_at: number }
export interface UserGroupsTable { user_name: string; group_name: string; source: 'cli' | 'config' }
export interface EnrollmentCodesTable { code_hash: string; user_name: string; created_at: number; expires_at: number; used_at: number | null }
export interface DevicesTable {
  id: string; user_name: string; name: string; refresh_hash: string; prev_refresh_hash: string | null;
  created_at: number; last_used_at: number; revoked_at: number | null;
}
export interface RequestsTable {
  id: string; kind: RequestKind; state: RequestState; requester: string; resource: string; role: string;
  duration_ms: number; reason: string; start_at: number | null; break_glass: number; public_key: string | null;
  created_at: number; request_expires_at: number; decided_at: number | null; decided_by: string | null;
  decision_comment: string | null; policy_json: string; grant_id: string | null; idempotency_key: string | null;
}
export interface ReviewsTable { request_id: string; reviewer: string; decision: 'approve' | 'deny'; comment: string | null; at: number }
export interface GrantsTable {
  id: string; request_id: string; user_name: string; resource: string; role: string; connector: string;
  state: GrantState; end_reason: EndReason | null; duration_ms: number; start_at: number | null;
  activated_at: number | null; expires_at: number | null; ended_at: number | null; failure_reason: string | null;
  extensions_used: number; break_glass: number; policy_json: string; public_key: string | null;
  /** The resource's connector config when the grant was made, so a revoke works after a config change. */
  target_json: string;
  credential_enc: string | null; revoke_attempts: number; next_revoke_at: number | null; last_revoke_error: string | null;
  /** When the grant should have been revoked (for late_by in the audit trail). */
  revoke_due_at: number | null;
}
export interface EventsTable {
  id: number; type: string; at: number; actor: string | null; request_id: string | null; grant_id: string | null;
  data_json: string; audience_json: string; prev_hash: string; hash: string;
}
export interface IdempotencyTable { user_name: string; idem_key: string; body_hash: string; request_id: string; created_at: number }
export interface MetaTable { key: string; value: string }

export interface Database {
  users: UsersTable;
  user_groups: UserGroupsTable;
  enrollment_codes: EnrollmentCodesTable;
  devices: DevicesTable;
  requests: RequestsTable;
  reviews: ReviewsTable;
  grants: GrantsTable;
  events: EventsTable;
  idempotency: IdempotencyTable;
  meta: MetaTable;
}
