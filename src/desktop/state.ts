/**
 * The desktop agent's data and the pure functions over it (STYLE.md §5): where a fetched request
 * or grant goes, which grants are live at a given server time, the next deadline, what an event
 * asks to refetch, which keychain entries must stay.
 *
 * Times here are server times (ms): the agent evaluates its data at `local now + server offset`,
 * so a laptop whose clock is off still counts down to the server's `expiresAt` (B27).
 */
import type { EventView, GrantView, RequestView, ResourceView, UserView } from '../shared/api.js';
import { toMs } from '../shared/countdown.js';
import { assertNever, UNFINISHED_GRANT_STATES } from '../shared/states.js';

export interface AgentData {
  user: UserView | null;
  resources: ResourceView[];
  /** My requests, newest first, then my pending ones older than those. */
  requests: RequestView[];
  /** Requests I may review, newest first, decided ones included. */
  reviewQueue: RequestView[];
  /** My grants, newest first, then my unfinished ones older than those. */
  grants: GrantView[];
}

export const EMPTY_DATA: AgentData = Object.freeze({ user: null, resources: [], requests: [], reviewQueue: [], grants: [] }) as AgentData;

/**
 * The data as evaluated at one server time. Notification intents compare two views: what changed,
 * and which deadlines fell between `prev.at` and `next.at` (so a laptop that slept through a
 * warning and an expiry gets the expiry only, not a burst).
 */
export interface AgentView {
  /** false until the first full fetch of this session: nothing is announced from an empty list (B40). */
  loaded: boolean;
  at: number;
  data: AgentData;
}

export const EMPTY_VIEW: AgentView = Object.freeze({ loaded: false, at: 0, data: EMPTY_DATA }) as AgentView;

/** How many items of each list are fetched, and kept. */
export const LIST_LIMIT = 100;
const KEEP_LIMIT = 200;
/**
 * How many unfinished grants and pending requests a full fetch asks for besides the newest ones
 * (the most the API gives at once). Only when fewer come back is the fetch known to hold all of
 * them, which the keychain sweep needs.
 */
export const UNFINISHED_LIMIT = 500;

/** What one full fetch brought: the newest of each list, and separately every unfinished grant and pending request of mine. */
export interface FullFetch {
  user: UserView;
  resources: ResourceView[];
  requests: RequestView[];
  pending: RequestView[];
  reviewQueue: RequestView[];
  grants: GrantView[];
  unfinished: GrantView[];
}

/**
 * The data of a full fetch: the newest requests and grants, and after them the pending requests
 * and unfinished grants older than those (100 grants made and ended after an active one push it
 * out of the newest). `complete`: no list of the unfinished was cut at its limit, so a grant or
 * request not live here is known not to be live.
 */
export function fromFullFetch(f: FullFetch): { data: AgentData; complete: boolean } {
  return {
    data: { user: f.user, resources: f.resources, requests: withOlder(f.requests, f.pending), reviewQueue: f.reviewQueue, grants: withOlder(f.grants, f.unfinished) },
    complete: f.unfinished.length < UNFINISHED_LIMIT && f.pending.length < UNFINISHED_LIMIT,
  };
}

/**
 * `newest` and then the items of `also` it lacks. Both lists come newest first in the same order,
 * so those are older than all of `newest` (unless made between the two fetches: then one sits
 * last until the next full fetch).
 */
function withOlder<T extends { id: string }>(newest: readonly T[], also: readonly T[]): T[] {
  const have = new Set(newest.map((x) => x.id));
  return [...newest, ...also.filter((x) => !have.has(x.id))];
}

const isUnfinished = (g: GrantView): boolean => (UNFINISHED_GRANT_STATES as readonly string[]).includes(g.state);

/** The grant's end (server ms), or null when it has none yet (scheduled, provisioning). */
export function expiresAtOf(g: GrantView): number | null {
  if (g.expiresAt === null) return null;
  const ms = toMs(g.expiresAt);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * The grant's state at server time `at`: `expired` is an active grant whose end has passed here
 * while the server's end has not reached us yet (asleep, offline, or a second early).
 */
export type GrantPhase = 'scheduled' | 'provisioning' | 'active' | 'expired' | 'revoking' | 'ended' | 'failed';

export function grantPhaseAt(g: GrantView, at: number): GrantPhase {
  switch (g.state) {
    case 'active': {
      const end = expiresAtOf(g);
      return end !== null && end <= at ? 'expired' : 'active';
    }
    case 'scheduled':
    case 'provisioning':
    case 'revoking':
    case 'ended':
    case 'failed':
      return g.state;
    default:
      return assertNever(g.state, 'grant state');
  }
}

/** Gives (or is about to give) access at `at`: what the countdown, the tray and the keychain keep. */
export function isLiveAt(g: GrantView, at: number): boolean {
  const phase = grantPhaseAt(g, at);
  return phase === 'scheduled' || phase === 'provisioning' || phase === 'active';
}

/** `group:sre` / `user:bob` entries of a request's approvers, matched against me. */
export function isApproverOf(r: RequestView, user: UserView): boolean {
  return r.approvers.some((a) => a === `user:${user.name}` || (a.startsWith('group:') && user.groups.includes(a.slice('group:'.length))));
}

/** Pending, reviewable by me now, and not mine: what "Pending approvals" counts. */
export function awaitsMyReview(r: RequestView, me: string): boolean {
  return r.state === 'pending' && r.canReview && r.requester !== me;
}

/** `item` in place of the one with its id, or first; beyond KEEP_LIMIT the oldest go, except those `stays` holds to. */
function upsert<T extends { id: string }>(list: readonly T[], item: T, stays: (x: T) => boolean = () => false): T[] {
  const i = list.findIndex((x) => x.id === item.id);
  if (i === -1) {
    const next = [item, ...list];
    let over = next.length - KEEP_LIMIT;
    if (over <= 0) return next;
    for (let j = next.length - 1; j >= 0 && over > 0; j--) {
      if (stays(next[j]!)) continue;
      next.splice(j, 1);
      over--;
    }
    return next;
  }
  const next = [...list];
  next[i] = item;
  return next;
}

const without = <T extends { id: string }>(list: readonly T[], id: string): T[] => list.filter((x) => x.id !== id);

/** Puts a fetched request where it belongs: my requests, the review queue, or both (self-approval). */
export function placeRequest(data: AgentData, r: RequestView, me: string): AgentData {
  const mine = r.requester === me;
  const reviewable = data.reviewQueue.some((x) => x.id === r.id) || (!mine && (r.canReview || (data.user !== null && isApproverOf(r, data.user))));
  return {
    ...data,
    requests: mine ? upsert(data.requests, r) : data.requests,
    reviewQueue: reviewable ? upsert(data.reviewQueue, r) : data.reviewQueue,
  };
}

/** Puts a fetched grant in my grants (others' grants are not kept: approvers see requests). */
export function placeGrant(data: AgentData, g: GrantView, me: string): AgentData {
  return g.user === me ? { ...data, grants: upsert(data.grants, g, isUnfinished) } : data;
}

/** The server no longer shows it to me (404). */
export function forgetRequest(data: AgentData, id: string): AgentData {
  return { ...data, requests: without(data.requests, id), reviewQueue: without(data.reviewQueue, id) };
}

export function forgetGrant(data: AgentData, id: string): AgentData {
  return { ...data, grants: without(data.grants, id) };
}

/** What an event asks to refetch (the event carries ids and a summary; the views come from the server). */
export type RefreshTarget = { kind: 'request'; id: string } | { kind: 'grant'; id: string } | { kind: 'resources' };

export function refreshKey(t: RefreshTarget): string {
  return t.kind === 'resources' ? 'resources' : `${t.kind}:${t.id}`;
}

export function refreshTargets(e: EventView, data: AgentData, me: string): RefreshTarget[] {
  switch (e.type) {
    case 'request.created':
    case 'request.reviewed':
    case 'request.approved':
    case 'request.denied':
    case 'request.cancelled':
    case 'request.timed_out': {
      if (e.requestId === null) return [];
      const known = data.requests.some((r) => r.id === e.requestId) || data.reviewQueue.some((r) => r.id === e.requestId);
      // Admins see every event: a request neither mine nor in my queue is fetched only when it is new.
      return known || e.type === 'request.created' || e.data.requester === me ? [{ kind: 'request', id: e.requestId }] : [];
    }
    case 'grant.scheduled':
    case 'grant.provisioning':
    case 'grant.active':
    case 'grant.failed':
    case 'grant.extended':
    case 'grant.revoking':
    case 'grant.ended':
    case 'grant.revoke_failed':
    case 'grant.cleaned_up': {
      if (e.grantId === null) return [];
      const mine = e.data.user === me || data.grants.some((g) => g.id === e.grantId);
      return mine ? [{ kind: 'grant', id: e.grantId }] : [];
    }
    case 'config.reloaded':
      return [{ kind: 'resources' }];
    case 'break_glass.used':
    case 'user.added':
    case 'user.enrolled':
      return [];
    default:
      return assertNever(e.type, 'event type');
  }
}

/**
 * The next moment (server ms, after `at`) something changes on its own: an expiry warning
 * (`expiresAt − leadMs`) or an expiry of one of my active grants. Null when there is none.
 */
export function nextDeadline(data: AgentData, at: number, leadMs: number): number | null {
  let next: number | null = null;
  for (const g of data.grants) {
    if (g.state !== 'active') continue;
    const end = expiresAtOf(g);
    if (end === null) continue;
    for (const t of [end - leadMs, end]) if (t > at && (next === null || t < next)) next = t;
  }
  return next;
}

/** Grants live at `prev.at` that are not live at `next.at`: their keychain entries go. */
export function grantsEnded(prev: AgentView, next: AgentView): GrantView[] {
  const before = new Map(prev.data.grants.map((g) => [g.id, g]));
  return next.data.grants.filter((g) => {
    const p = before.get(g.id);
    return p !== undefined && isLiveAt(p, prev.at) && !isLiveAt(g, next.at);
  });
}

/**
 * The ids whose keychain entries must stay (`Keychain.sweepEnded`): live grants and the requests
 * they came from (an ssh key made with the request is stored under the request id), and my
 * pending requests. The sweep deletes every other entry, so `data` must hold every live grant and
 * pending request: a full fetch that is `complete` (fromFullFetch), never the newest only.
 */
export function secretsToKeep(data: AgentData, at: number): string[] {
  const ids: string[] = [];
  for (const g of data.grants) if (isLiveAt(g, at)) ids.push(g.id, g.requestId);
  for (const r of data.requests) if (r.state === 'pending') ids.push(r.id);
  return ids;
}

/** My active grants that have a credential to keep in the keychain. */
export function credentialsWanted(data: AgentData, at: number): GrantView[] {
  return data.grants.filter((g) => g.state === 'active' && g.hasCredential && isLiveAt(g, at));
}

/**
 * What happens to the ssh keys kept under request ids (`requestIds`: requests of mine whose key
 * this device holds) now that their requests moved on: `adopt` (request id → grant id) when the
 * grant is live, so the key follows the grant; `forget` when the request ended without access
 * (denied, cancelled, timed out) or its grant is no longer live (failed, ended). A request still
 * pending, not in the list, or approved with its grant not fetched yet is left for later.
 */
export function sshKeyFates(data: AgentData, at: number, requestIds: Iterable<string>): { adopt: Map<string, string>; forget: string[] } {
  const adopt = new Map<string, string>();
  const forget: string[] = [];
  for (const id of requestIds) {
    const r = data.requests.find((x) => x.id === id);
    if (!r) continue;
    switch (r.state) {
      case 'pending':
        break;
      case 'approved': {
        const g = data.grants.find((x) => x.requestId === id);
        if (g === undefined) break;
        if (isLiveAt(g, at)) adopt.set(id, g.id);
        else forget.push(id);
        break;
      }
      case 'denied':
      case 'cancelled':
      case 'timed_out':
        forget.push(id);
        break;
      default:
        assertNever(r.state, 'request state');
    }
  }
  return { adopt, forget };
}

/**
 * A credential that ends before its grant does: fetched after an extension moved the grant's end
 * but before the connector re-issued it (the server announces the new end first). Read from the
 * credential's own end, `validBefore` (ssh) or `expiresAt` (pass), which the server floors to the
 * second; a credential without one is never behind.
 */
export function credentialBehind(credential: Record<string, unknown>, g: GrantView): boolean {
  const end = expiresAtOf(g);
  const own = typeof credential.validBefore === 'string' ? credential.validBefore : typeof credential.expiresAt === 'string' ? credential.expiresAt : null;
  if (end === null || own === null) return false;
  const ms = Date.parse(own);
  return !Number.isNaN(ms) && ms < Math.floor(end / 1000) * 1000;
}
