/**
 * Which desktop notifications to show or take back (DESIGN.md "Desktop agent": intents are
 * decided in the agent; the Electron shell only renders them). Pure: from the previous and the
 * next view of the agent's data (or one event), who I am and my settings.
 *
 * - approvers get `approval_needed` for a request they may review — never for their own; when the
 *   request is decided (by anyone), cancelled, or reviewed by them, it is withdrawn (B22);
 * - requesters get `decided`, with who decided and their comment, and "expired" for a request that
 *   timed out (B21);
 * - whoever holds an active grant gets `expiring_soon` (settings' lead time) with Extend where
 *   extensions are left, then `ended`. The warning is due while the grant is inside its warning
 *   window and was not already in it at the previous view (with the lead time of then): so the
 *   first load finds a grant ending in 3 min under a 5 min lead, and a raised lead whose warning
 *   time has passed warns at once, but a laptop that slept through both the warning and the end
 *   gets the `ended` only (B27);
 * - approvers (and admins) get `revoke_failed` when a revoke keeps failing (B09), whether or not
 *   the request is still in their review queue;
 * - nobody is notified about their own action; `muted` silences everything, and each kind has its
 *   own switch (`approvals`, `decisions`, `expiring`; `ended` and `revoke_failed` follow `muted` only).
 *
 * Each intent has an `id` (one occurrence: the agent shows an id once) and a `key` (the slot: a
 * later intent with the same key replaces it, and `withdraw(key)` removes it).
 */
import type { EventView, GrantView, RequestView } from '../shared/api.js';
import type { WindowTarget } from '../shared/desktop-api.js';
import { formatRemainingCoarse } from '../shared/countdown.js';
import { formatDuration } from '../shared/duration.js';
import type { Settings } from '../shared/settings.js';
import type { EndReason } from '../shared/states.js';
import { assertNever } from '../shared/states.js';
import { awaitsMyReview, expiresAtOf, grantPhaseAt, isApproverOf, isLiveAt, type AgentView } from './state.js';
import type { AgentTrayAction } from './tray-model.js';

export type IntentKind = 'approval_needed' | 'decided' | 'expiring_soon' | 'ended' | 'revoke_failed';

/**
 * A button on the notification. Only macOS shows them; on Windows and Linux approve, deny and
 * extend happen in the window, which the notification's click opens (B33). A button either runs
 * an agent action (`run`) or opens a place in the window (`open`): Deny needs a comment, and
 * Extend a duration and a reason, so those open their form.
 */
export type IntentAction =
  | { id: 'approve'; label: string; run: Extract<AgentTrayAction, { kind: 'approve' }> }
  | { id: 'deny' | 'extend'; label: string; open: WindowTarget };

interface IntentBase {
  /** This occurrence; shown at most once. */
  id: string;
  /** The notification slot (replace / withdraw). */
  key: string;
  title: string;
  body: string;
  /** Where a click leads. */
  open: WindowTarget;
  actions: IntentAction[];
}

export type DecisionOutcome = 'approved' | 'denied' | 'timed_out' | 'cancelled';

export type NotificationIntent =
  | (IntentBase & { kind: 'approval_needed'; requestId: string; requester: string; resource: string; role: string; durationMs: number; reason: string })
  | (IntentBase & { kind: 'decided'; requestId: string; extension: boolean; outcome: DecisionOutcome; by: string | null; comment: string | null; resource: string; role: string })
  | (IntentBase & { kind: 'expiring_soon'; grantId: string; resource: string; role: string; expiresAt: string; canExtend: boolean })
  | (IntentBase & { kind: 'ended'; grantId: string; resource: string; role: string; reason: EndReason | 'failed'; at: string })
  | (IntentBase & { kind: 'revoke_failed'; grantId: string; user: string; resource: string; role: string; error: string; attempts: number });

export type NotifierCommand = { type: 'show'; intent: NotificationIntent } | { type: 'withdraw'; key: string };

export type IntentSettings = Pick<Settings, 'notifications' | 'expiryWarningLeadMs'>;

export interface IntentFormat {
  /** A server time as the person reads it (`11:00`). The composition root passes the local format. */
  time(ms: number): string;
}

/** `HH:MM UTC`: deterministic; the app passes a local-time formatter. */
export const UTC_FORMAT: IntentFormat = { time: (ms) => `${new Date(ms).toISOString().slice(11, 16)} UTC` };

export const approvalKey = (requestId: string) => `approval:${requestId}`;
export const decisionKey = (requestId: string) => `decision:${requestId}`;
export const grantKey = (grantId: string) => `grant:${grantId}`;
export const revokeKey = (grantId: string) => `revoke:${grantId}`;

const label = (x: { resource: string; role: string }) => `${x.resource}/${x.role}`;

/**
 * The intents a change of data or time calls for. Nothing before both views are loaded (B40),
 * except the expiry warning of a grant the first load finds inside its warning window: that is
 * news about now, not about the past. `prevLeadMs` is the lead time `prev` was judged with (the
 * setting may have changed since).
 */
export function changeIntents(
  prev: AgentView, next: AgentView, me: string, settings: IntentSettings, fmt: IntentFormat = UTC_FORMAT, prevLeadMs: number = settings.expiryWarningLeadMs,
): NotifierCommand[] {
  if (!next.loaded) return [];
  const out: NotifierCommand[] = [];
  const leadMs = settings.expiryWarningLeadMs;

  if (prev.loaded) {
    // Approvals waiting for me.
    const wasOpen = new Set(prev.data.reviewQueue.filter((r) => awaitsMyReview(r, me)).map((r) => r.id));
    const isOpen = new Set<string>();
    for (const r of next.data.reviewQueue) {
      if (!awaitsMyReview(r, me)) continue;
      isOpen.add(r.id);
      if (!wasOpen.has(r.id)) out.push({ type: 'show', intent: approvalNeeded(r) });
    }
    for (const id of wasOpen) if (!isOpen.has(id)) out.push({ type: 'withdraw', key: approvalKey(id) });

    // Decisions on my requests.
    const wasPending = new Set(prev.data.requests.filter((r) => r.state === 'pending').map((r) => r.id));
    for (const r of next.data.requests) {
      if (r.state === 'pending' || !wasPending.has(r.id) || r.requester !== me) continue;
      // My own cancel, or a self-approval; and an extension closed because its grant ended (that grant's `ended` says it).
      if (r.decidedBy === me || (r.state === 'cancelled' && r.decidedBy === null)) continue;
      out.push({ type: 'show', intent: decided(r) });
    }
  }

  // My grants: the expiry warning, then the end.
  const before = new Map(prev.loaded ? prev.data.grants.map((g) => [g.id, g]) : []);
  for (const g of next.data.grants) {
    if (g.user !== me) continue;
    const p = before.get(g.id);
    const wasLive = p !== undefined && isLiveAt(p, prev.at);
    if (wasLive && !isLiveAt(g, next.at)) {
      if (!(g.state !== 'failed' && g.endReason === 'ended_by_user')) out.push({ type: 'show', intent: ended(g, next.at, fmt) });
      continue;
    }
    const end = expiresAtOf(g);
    const wasWarned = p !== undefined && warningDue(p, prev.at, prevLeadMs);
    if (warningDue(g, next.at, leadMs)) {
      if (!wasWarned || expiresAtOf(p) !== end) out.push({ type: 'show', intent: expiringSoon(g, end!, next.at, fmt) });
    } else if (wasWarned && expiresAtOf(p) !== end && g.state === 'active') {
      // Extended: a warning already shown for the old end no longer holds.
      out.push({ type: 'withdraw', key: grantKey(g.id) });
    }
  }
  return filtered(out, settings);
}

/**
 * The grant is active and inside its warning window at `at`: its end is less than `leadMs` away
 * and not passed. Never for a grant shorter than the lead time: a warning at activation is noise.
 */
function warningDue(g: GrantView, at: number, leadMs: number): boolean {
  const end = expiresAtOf(g);
  if (g.state !== 'active' || end === null || end <= at) return false;
  const warnAt = end - leadMs;
  const activated = g.activatedAt === null ? -Infinity : Date.parse(g.activatedAt);
  return warnAt <= at && warnAt >= activated;
}

/**
 * Whether I hear of a `grant.revoke_failed`: approvers of its request and admins, not its holder
 * (whose grant shows the failure). The server streams it to the holder, the approvers and admins —
 * and to everyone for a break-glass grant — so the request's approvers decide. `ask`: the request
 * is not in my lists (my review queue holds the latest 100; a revoke can fail hours later), and
 * only the server can say; `request` is its answer, null when it does not show me the request.
 */
export function revokeFailedAudience(e: EventView, view: AgentView, me: string, request?: RequestView | null): 'approver' | 'not_approver' | 'ask' {
  const user = view.data.user;
  if (e.type !== 'grant.revoke_failed' || e.grantId === null || !view.loaded || user === null) return 'not_approver';
  if (str(e.data.user) === null || str(e.data.user) === me) return 'not_approver';
  if (user.admin || view.data.reviewQueue.some((r) => r.id === e.requestId)) return 'approver';
  if (e.requestId === null) return 'not_approver';
  if (request === undefined) return 'ask';
  return request !== null && request.id === e.requestId && isApproverOf(request, user) ? 'approver' : 'not_approver';
}

/**
 * The intents one event calls for by itself: `revoke_failed`, for approvers (and admins) of the
 * grant — not its holder. `request`: the event's request as the server showed it, when
 * `revokeFailedAudience` asked for it.
 */
export function eventIntents(e: EventView, view: AgentView, me: string, settings: IntentSettings, request?: RequestView | null): NotifierCommand[] {
  if (revokeFailedAudience(e, view, me, request) !== 'approver' || e.grantId === null) return [];
  const user = str(e.data.user) ?? 'someone';
  const resource = str(e.data.resource) ?? 'a resource';
  const role = str(e.data.role) ?? 'a role';
  const error = str(e.data.error) ?? 'unknown error';
  const attempts = typeof e.data.attempts === 'number' ? e.data.attempts : 1;
  const intent: NotificationIntent = {
    kind: 'revoke_failed', id: revokeFailedId(e.grantId), key: revokeKey(e.grantId),
    grantId: e.grantId, user, resource, role, error, attempts,
    title: `Revoke failing: ${user} on ${resource}/${role}`,
    body: `Latch could not take ${user}'s access away yet (attempt ${attempts}: ${error}). It keeps retrying; check the target.`,
    open: e.requestId === null ? { view: 'approvals' } : { view: 'request', requestId: e.requestId },
    actions: [],
  };
  return filtered([{ type: 'show', intent }], settings);
}

/** One `revoke_failed` per grant: the retries that follow do not notify again. */
export const revokeFailedId = (grantId: string) => `revoke_failed:${grantId}`;

function approvalNeeded(r: RequestView): NotificationIntent {
  const what = r.kind === 'extension' ? `${formatDuration(r.durationMs)} more on ${label(r)}` : `${label(r)} for ${formatDuration(r.durationMs)}`;
  return {
    kind: 'approval_needed', id: `approval_needed:${r.id}`, key: approvalKey(r.id),
    requestId: r.id, requester: r.requester, resource: r.resource, role: r.role, durationMs: r.durationMs, reason: r.reason,
    title: `Approval needed: ${label(r)}`,
    body: `${r.requester} asks for ${what}${r.reason ? `: “${r.reason}”` : ''}`,
    open: { view: 'request', requestId: r.id },
    actions: [
      { id: 'approve', label: 'Approve', run: { kind: 'approve', requestId: r.id } },
      { id: 'deny', label: 'Deny…', open: { view: 'request', requestId: r.id } },
    ],
  };
}

function decided(r: RequestView): NotificationIntent {
  const outcome = r.state as DecisionOutcome;
  const by = r.decidedBy;
  const yours = r.kind === 'extension' ? `your extension of ${label(r)}` : `your request for ${label(r)}`;
  const said = r.decisionComment ? `: “${r.decisionComment}”` : '';
  let title: string;
  let body: string;
  switch (outcome) {
    case 'approved':
      title = `Approved: ${label(r)}`;
      body = by === 'policy' || by === 'break-glass' ? `${cap(yours)} was approved automatically.` : `${by ?? 'An approver'} approved ${yours}${said}`;
      break;
    case 'denied':
      title = `Denied: ${label(r)}`;
      body = `${by ?? 'An approver'} denied ${yours}${said}`;
      break;
    case 'timed_out':
      title = `Expired: ${label(r)}`;
      body = `${cap(yours)} expired: nobody decided before the approve-by deadline. Request again if you still need it.`;
      break;
    case 'cancelled':
      title = `Cancelled: ${label(r)}`;
      body = `${by ?? 'Someone'} cancelled ${yours}${said}`;
      break;
    default:
      return assertNever(outcome, 'decision');
  }
  return {
    kind: 'decided', id: `decided:${r.id}`, key: decisionKey(r.id),
    requestId: r.id, extension: r.kind === 'extension', outcome, by, comment: r.decisionComment, resource: r.resource, role: r.role,
    title, body, open: { view: 'request', requestId: r.id }, actions: [],
  };
}

function expiringSoon(g: GrantView, end: number, at: number, fmt: IntentFormat): NotificationIntent {
  const canExtend = g.extensionsUsed < g.extensionsAllowed;
  return {
    kind: 'expiring_soon', id: `expiring_soon:${g.id}:${end}`, key: grantKey(g.id),
    grantId: g.id, resource: g.resource, role: g.role, expiresAt: new Date(end).toISOString(), canExtend,
    title: `${label(g)} ends soon`,
    body: `Your access ends at ${fmt.time(end)} (in ${formatRemainingCoarse(end - at)}).${canExtend ? ' Extend it if you need more time.' : ''}`,
    open: { view: 'grant', grantId: g.id },
    actions: canExtend ? [{ id: 'extend', label: 'Extend…', open: { view: 'grant', grantId: g.id, extend: true } }] : [],
  };
}

function ended(g: GrantView, at: number, fmt: IntentFormat): NotificationIntent {
  const phase = grantPhaseAt(g, at);
  const reason: EndReason | 'failed' = phase === 'failed' ? 'failed' : phase === 'expired' ? 'expired' : (g.endReason ?? 'expired');
  const endAt = reason === 'expired' ? (expiresAtOf(g) ?? at) : g.endedAt !== null ? Date.parse(g.endedAt) : at;
  let title = `Access ended: ${label(g)}`;
  let body: string;
  switch (reason) {
    case 'expired':
      body = `Your access ended at ${fmt.time(endAt)}.`;
      break;
    case 'revoked_by_admin':
      body = `An admin ended your access at ${fmt.time(endAt)}.`;
      break;
    case 'ended_by_user':
      body = `Your access was ended at ${fmt.time(endAt)}.`;
      break;
    case 'failed':
      title = `Access not granted: ${label(g)}`;
      body = g.failureReason ?? 'Access could not be provisioned on the target.';
      break;
    default:
      return assertNever(reason, 'end reason');
  }
  return {
    kind: 'ended', id: `ended:${g.id}`, key: grantKey(g.id),
    grantId: g.id, resource: g.resource, role: g.role, reason, at: new Date(endAt).toISOString(),
    title, body, open: { view: 'grant', grantId: g.id }, actions: [],
  };
}

/** Drops what the settings silence; withdrawals always go through. */
function filtered(commands: NotifierCommand[], settings: IntentSettings): NotifierCommand[] {
  const n = settings.notifications;
  return commands.filter((c) => {
    if (c.type === 'withdraw') return true;
    if (n.muted) return false;
    const kind = c.intent.kind;
    switch (kind) {
      case 'approval_needed':
        return n.approvals;
      case 'decided':
        return n.decisions;
      case 'expiring_soon':
        return n.expiring;
      case 'ended':
      case 'revoke_failed':
        return true;
      default:
        return assertNever(kind, 'intent kind');
    }
  });
}

/** A string field of an event's data, or null (event data is loosely typed on the wire). */
export function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
