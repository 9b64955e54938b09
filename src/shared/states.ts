/**
 * The two state machines of DESIGN.md ("Domain"). Approval and provisioning are separate:
 * a request is decided once; its grant then moves through provisioning on the target.
 */

export const REQUEST_STATES = ['pending', 'approved', 'denied', 'cancelled', 'timed_out'] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

/**
 * `revoking`: the access window is over (the grant carries its end reason) but the connector has
 * not yet confirmed the revoke; it is retried until it succeeds and is never shown as ended.
 */
export const GRANT_STATES = ['scheduled', 'provisioning', 'active', 'revoking', 'ended', 'failed'] as const;
export type GrantState = (typeof GRANT_STATES)[number];

/**
 * Grants not finished yet: giving access, about to, or still being revoked. Lists of grants are
 * cut at a limit, newest first; whoever must see every one of these (the desktop agent, `latch
 * grants`) asks for them separately, as older ones can sit behind any number of newer ended ones.
 */
export const UNFINISHED_GRANT_STATES = ['scheduled', 'provisioning', 'active', 'revoking'] as const satisfies readonly GrantState[];

export const END_REASONS = ['expired', 'ended_by_user', 'revoked_by_admin'] as const;
export type EndReason = (typeof END_REASONS)[number];

export const REQUEST_KINDS = ['access', 'extension'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unhandled ${what}: ${String(value)}`);
}

const REQUEST_NEXT: Record<RequestState, readonly RequestState[]> = {
  pending: ['approved', 'denied', 'cancelled', 'timed_out'],
  approved: [],
  denied: [],
  cancelled: [],
  timed_out: [],
};

const GRANT_NEXT: Record<GrantState, readonly GrantState[]> = {
  scheduled: ['provisioning', 'ended'],
  provisioning: ['active', 'failed', 'revoking'],
  active: ['revoking'],
  revoking: ['ended'],
  ended: [],
  failed: [],
};

export function canMoveRequest(from: RequestState, to: RequestState): boolean {
  return REQUEST_NEXT[from].includes(to);
}

export function canMoveGrant(from: GrantState, to: GrantState): boolean {
  return GRANT_NEXT[from].includes(to);
}

export function isRequestDecided(state: RequestState): boolean {
  return state !== 'pending';
}

/** A grant that still gives (or may soon give) access on the target. */
export function isGrantLive(state: GrantState): boolean {
  switch (state) {
    case 'scheduled':
    case 'provisioning':
    case 'active':
      return true;
    case 'revoking':
    case 'ended':
    case 'failed':
      return false;
    default:
      return assertNever(state, 'grant state');
  }
}
