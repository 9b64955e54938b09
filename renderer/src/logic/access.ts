/**
 * "My access" as sections: what gives access now (or is about to), what is scheduled, what waits
 * for approval, and what happened recently — a pure function of the snapshot's lists and the
 * server time (STYLE.md §5). The renderer never invents a grant: an active grant past its end here
 * but not yet ended by the server shows as "ending", not as gone.
 */
import type { GrantView, RequestView } from '../../../src/shared/api.js';
import { countdown, toMs, type Countdown } from '../../../src/shared/countdown.js';
import { assertNever } from '../../../src/shared/states.js';

/**
 * The grant's state at server time `at` (the agent's `grantPhaseAt`, src/desktop/state.ts, which
 * the renderer may not import): `expired` is an active grant whose end has passed here while the
 * server's "ended" has not reached us yet.
 */
export type GrantPhase = 'scheduled' | 'provisioning' | 'active' | 'expired' | 'revoking' | 'ended' | 'failed';

export function grantPhaseAt(g: GrantView, at: number): GrantPhase {
  switch (g.state) {
    case 'active': {
      const end = g.expiresAt === null ? null : toMs(g.expiresAt);
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

export interface CurrentGrant {
  grant: GrantView;
  /** `active`, `provisioning` (being set up), `expired` or `revoking` (ending). */
  phase: GrantPhase;
  /** Time left; `Expired` once past. */
  left: Countdown;
  /** My extension request on it that waits for approval. */
  pendingExtension: RequestView | null;
  /** Whether an Extend button makes sense now. */
  canExtend: boolean;
}

export interface ScheduledGrant {
  grant: GrantView;
  /** Time until it starts. */
  startsIn: Countdown;
}

export interface PendingRequest {
  request: RequestView;
  /** Time left for an approver to decide before it times out. */
  approveWithin: Countdown;
}

export type HistoryItem =
  | { kind: 'grant'; id: string; at: number; grant: GrantView }
  | { kind: 'request'; id: string; at: number; request: RequestView };

export interface MyAccess {
  current: CurrentGrant[];
  scheduled: ScheduledGrant[];
  pending: PendingRequest[];
  history: HistoryItem[];
  /** More history than `historyLimit` is kept. */
  moreHistory: number;
}

export const HISTORY_LIMIT = 10;

/** `now` is local ms and `serverOffsetMs` the measured offset, as in the snapshot. */
export function myAccess(
  lists: { requests: readonly RequestView[]; grants: readonly GrantView[] },
  now: number,
  serverOffsetMs: number,
  historyLimit = HISTORY_LIMIT,
): MyAccess {
  const at = now + serverOffsetMs;
  const pendingExtensions = new Map<string, RequestView>();
  for (const r of lists.requests) if (r.kind === 'extension' && r.state === 'pending' && r.grantId !== null) pendingExtensions.set(r.grantId, r);

  const current: CurrentGrant[] = [];
  const scheduled: ScheduledGrant[] = [];
  const history: HistoryItem[] = [];
  for (const g of lists.grants) {
    const phase = grantPhaseAt(g, at);
    switch (phase) {
      case 'active':
      case 'expired':
      case 'provisioning':
      case 'revoking': {
        const pendingExtension = pendingExtensions.get(g.id) ?? null;
        current.push({
          grant: g,
          phase,
          left: g.expiresAt === null ? countdown(Number.NaN, now, serverOffsetMs) : countdown(g.expiresAt, now, serverOffsetMs),
          pendingExtension,
          canExtend: phase === 'active' && g.extensionsUsed < g.extensionsAllowed && pendingExtension === null,
        });
        break;
      }
      case 'scheduled':
        scheduled.push({ grant: g, startsIn: countdown(g.startAt ?? Number.NaN, now, serverOffsetMs) });
        break;
      case 'ended':
      case 'failed':
        history.push({ kind: 'grant', id: g.id, at: toMs(g.endedAt ?? g.expiresAt ?? g.activatedAt ?? g.startAt ?? '') || 0, grant: g });
        break;
      default:
        assertNever(phase, 'grant phase');
    }
  }

  const pending: PendingRequest[] = [];
  for (const r of lists.requests) {
    if (r.state === 'pending') pending.push({ request: r, approveWithin: countdown(r.requestExpiresAt, now, serverOffsetMs) });
    // An approved access request lives on as its grant; everything else decided is history.
    else if (!(r.state === 'approved' && r.kind === 'access')) history.push({ kind: 'request', id: r.id, at: toMs(r.decidedAt ?? r.createdAt) || 0, request: r });
  }

  const endOf = (c: CurrentGrant) => (c.grant.expiresAt === null ? Number.POSITIVE_INFINITY : toMs(c.grant.expiresAt));
  current.sort((a, b) => endOf(a) - endOf(b));
  scheduled.sort((a, b) => toMs(a.grant.startAt ?? '') - toMs(b.grant.startAt ?? ''));
  history.sort((a, b) => b.at - a.at);
  return { current, scheduled, pending, history: history.slice(0, historyLimit), moreHistory: Math.max(0, history.length - historyLimit) };
}

/** Nothing live, starting or waiting: the empty state (only once the data has arrived, B40). */
export function hasNothingLive(a: MyAccess): boolean {
  return a.current.length === 0 && a.scheduled.length === 0 && a.pending.length === 0;
}
