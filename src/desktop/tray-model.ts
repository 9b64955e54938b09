/**
 * The tray, as data (DESIGN.md "Desktop agent"; STYLE.md §5): a pure function from the snapshot
 * and the time to the icon, the badge, the tooltip and the menu. The Electron shell turns the
 * model into a Tray and a Menu and sets both again each time the agent renders a new model (after
 * every change, and when a remaining time shown in it changes — minute resolution, so at most
 * once a minute per grant).
 *
 * Every action is in the menu (B32): some Linux trays (AppIndicator) deliver no click events, so
 * nothing depends on clicking the icon. Actions that need more input (deny needs a comment, extend
 * a duration) open the window on the right place.
 *
 * - icon: `attention` when approvals wait for me or the keychain needs unlocking; else `active`
 *   with an active grant; else `pending` while a request of mine or a grant is on its way; else `idle`.
 * - badge: approvals waiting for me + my active grants (it drops when a grant ends, B27).
 */
import type { GrantView, RequestView } from '../shared/api.js';
import { copyableFields, type DesktopSnapshot, type WindowTarget } from '../shared/desktop-api.js';
import { formatRemainingCoarse } from '../shared/countdown.js';
import { formatDuration } from '../shared/duration.js';
import { assertNever } from '../shared/states.js';
import { UTC_FORMAT, type IntentFormat } from './intents.js';
import { awaitsMyReview, expiresAtOf, grantPhaseAt, type GrantPhase } from './state.js';

export type TrayIcon = 'idle' | 'pending' | 'active' | 'attention';

export type TrayAction =
  | { kind: 'open_window'; target: WindowTarget }
  | { kind: 'approve'; requestId: string }
  | { kind: 'cancel_request'; requestId: string }
  | { kind: 'end_grant'; grantId: string }
  | { kind: 'copy_credential'; grantId: string; field: string }
  | { kind: 'retry_keychain' }
  | { kind: 'sign_out' }
  | { kind: 'quit' };

/** The actions the agent carries out (Agent.runTrayAction); the shell does `open_window` and `quit`. */
export type AgentTrayAction = Exclude<TrayAction, { kind: 'open_window' } | { kind: 'quit' }>;

export type TrayMenuItem =
  | { type: 'action'; id: string; label: string; action: TrayAction }
  /** Information, shown disabled. */
  | { type: 'label'; id: string; label: string }
  | { type: 'submenu'; id: string; label: string; items: TrayMenuItem[] }
  | { type: 'separator'; id: string };

export interface TrayModel {
  icon: TrayIcon;
  badge: number;
  tooltip: string;
  menu: TrayMenuItem[];
}

export interface TrayModelOptions {
  /** How a server time reads (`11:00`); default `HH:MM UTC`. */
  format?: IntentFormat;
  /** How long an ended grant stays under "Recently ended" (default 12 h). */
  recentlyEndedMs?: number;
}

const RECENTLY_ENDED_MS = 12 * 3_600_000;
const RECENTLY_ENDED_MAX = 5;
const PRODUCT = 'Latch';

const label = (x: { resource: string; role: string }) => `${x.resource}/${x.role}`;
const open = (id: string, text: string, target: WindowTarget): TrayMenuItem => ({ type: 'action', id, label: text, action: { kind: 'open_window', target } });
const sep = (id: string): TrayMenuItem => ({ type: 'separator', id });

export function trayModel(s: DesktopSnapshot, now: number, opts: TrayModelOptions = {}): TrayModel {
  const fmt = opts.format ?? UTC_FORMAT;
  const at = now + s.serverOffsetMs;
  const me = s.user?.name ?? null;
  const awaiting = me === null ? [] : s.reviewQueue.filter((r) => awaitsMyReview(r, me));
  const phases = s.grants.map((g) => ({ g, phase: grantPhaseAt(g, at) }));
  const active = phases.filter((p) => p.phase === 'active').map((p) => p.g);
  const starting = phases.filter((p) => p.phase === 'scheduled' || p.phase === 'provisioning');
  const myPending = s.requests.filter((r) => r.state === 'pending');
  const keychainProblem = s.keychain.status === 'locked' || s.keychain.status === 'denied' || s.keychain.status === 'timeout';

  const icon: TrayIcon =
    s.phase === 'signed_out' ? 'idle'
    : awaiting.length > 0 || keychainProblem ? 'attention'
    : active.length > 0 ? 'active'
    : myPending.length > 0 || starting.length > 0 ? 'pending'
    : 'idle';
  const badge = s.phase === 'ready' ? awaiting.length + active.length : 0;

  return { icon, badge, tooltip: tooltip(s, at, awaiting, active, fmt), menu: menu(s, at, awaiting, phases, myPending, keychainProblem, fmt, opts.recentlyEndedMs ?? RECENTLY_ENDED_MS) };
}

function tooltip(s: DesktopSnapshot, at: number, awaiting: RequestView[], active: GrantView[], fmt: IntentFormat): string {
  switch (s.phase) {
    case 'signed_out':
      return `${PRODUCT} — not signed in`;
    case 'loading':
      return `${PRODUCT} — loading…${connectionNote(s, fmt)}`;
    case 'ready':
      break;
    default:
      return assertNever(s.phase, 'phase');
  }
  const parts: string[] = [];
  const next = [...active].sort((a, b) => (expiresAtOf(a) ?? Infinity) - (expiresAtOf(b) ?? Infinity))[0];
  if (next) {
    const end = expiresAtOf(next);
    const when = end === null ? '' : `, next ends in ${formatRemainingCoarse(end - at)} (${label(next)} at ${fmt.time(end)})`;
    parts.push(`${active.length} active${when}`);
  } else {
    parts.push('no active access');
  }
  if (awaiting.length > 0) parts.push(`${awaiting.length} approval${awaiting.length === 1 ? '' : 's'} waiting`);
  return `${PRODUCT} — ${parts.join(' · ')}${connectionNote(s, fmt)}`;
}

function connectionNote(s: DesktopSnapshot, fmt: IntentFormat): string {
  const asOf = s.stale ? `, showing data as of ${fmt.time(Date.parse(s.stale.since) + s.serverOffsetMs)}` : '';
  switch (s.connection.state) {
    case 'live':
      return '';
    case 'reconnecting':
      return ` · Reconnecting…${asOf}`;
    case 'offline':
      return ` · Offline${asOf}`;
    default:
      return assertNever(s.connection.state, 'connection state');
  }
}

function menu(
  s: DesktopSnapshot, at: number, awaiting: RequestView[], phases: { g: GrantView; phase: GrantPhase }[], myPending: RequestView[],
  keychainProblem: boolean, fmt: IntentFormat, recentlyEndedMs: number,
): TrayMenuItem[] {
  const tail: TrayMenuItem[] = [sep('sep-tail'), open('open-window', 'Open window', { view: 'home' })];
  const keychain: TrayMenuItem[] = keychainProblem
    ? [{ type: 'label', id: 'keychain-status', label: s.keychain.message }, { type: 'action', id: 'keychain-retry', label: 'Retry keychain', action: { kind: 'retry_keychain' } }, sep('sep-keychain')]
    : [];
  switch (s.phase) {
    case 'signed_out':
      return [{ type: 'label', id: 'status', label: 'Not signed in' }, open('enroll', 'Sign in…', { view: 'enroll' }), ...tail, quit()];
    case 'loading':
      return [{ type: 'label', id: 'status', label: `Loading…${connectionNote(s, fmt)}` }, ...keychain, ...tail, signOut(), quit()];
    case 'ready':
      break;
    default:
      return assertNever(s.phase, 'phase');
  }

  const items: TrayMenuItem[] = [];
  if (s.connection.state !== 'live') items.push({ type: 'label', id: 'status', label: connectionNote(s, fmt).replace(/^ · /, '') }, sep('sep-status'));
  items.push(...keychain);
  items.push(open('request-access', 'Request access…', { view: 'request_access' }));

  items.push({
    type: 'submenu', id: 'approvals', label: `Pending approvals (${awaiting.length})`,
    items: awaiting.length === 0
      ? [{ type: 'label', id: 'approvals-none', label: 'Nothing to review' }, open('approvals-open', 'Open approvals', { view: 'approvals' })]
      : [...awaiting.map(approvalItem), sep('approvals-sep'), open('approvals-open', 'Open approvals', { view: 'approvals' })],
  });
  if (myPending.length > 0) {
    items.push({ type: 'submenu', id: 'my-requests', label: `My requests (${myPending.length})`, items: myPending.map(myRequestItem) });
  }

  items.push(sep('sep-grants'));
  const live = phases.filter((p) => p.phase === 'active' || p.phase === 'scheduled' || p.phase === 'provisioning');
  if (live.length === 0) items.push({ type: 'label', id: 'grants-none', label: 'No active access' });
  for (const { g, phase } of live) items.push(grantItem(g, phase, at, fmt));
  const ended = phases
    .filter((p) => !(p.phase === 'active' || p.phase === 'scheduled' || p.phase === 'provisioning'))
    .map((p) => ({ ...p, endAt: endOf(p.g, p.phase) }))
    .filter((p) => p.endAt !== null && at - p.endAt <= recentlyEndedMs)
    .slice(0, RECENTLY_ENDED_MAX);
  if (ended.length > 0) {
    items.push({
      type: 'submenu', id: 'recently-ended', label: 'Recently ended',
      items: ended.map(({ g, phase, endAt }) => ({ type: 'label', id: `ended-${g.id}`, label: `${label(g)} — ${endedText(g, phase)} at ${fmt.time(endAt!)}` })),
    });
  }

  return [...items, ...tail, open('settings', 'Settings…', { view: 'settings' }), signOut(), quit()];
}

function approvalItem(r: RequestView): TrayMenuItem {
  const what = r.kind === 'extension' ? `+${formatDuration(r.durationMs)} on ${label(r)}` : `${label(r)} for ${formatDuration(r.durationMs)}`;
  return {
    type: 'submenu', id: `approval-${r.id}`, label: `${r.requester}: ${what}`,
    items: [
      ...(r.reason ? [{ type: 'label', id: `approval-${r.id}-reason`, label: `“${truncate(r.reason, 80)}”` } as TrayMenuItem] : []),
      { type: 'action', id: `approval-${r.id}-approve`, label: 'Approve', action: { kind: 'approve', requestId: r.id } },
      open(`approval-${r.id}-deny`, 'Deny…', { view: 'request', requestId: r.id }),
      open(`approval-${r.id}-open`, 'Open', { view: 'request', requestId: r.id }),
    ],
  };
}

function myRequestItem(r: RequestView): TrayMenuItem {
  const what = r.kind === 'extension' ? `+${formatDuration(r.durationMs)} on ${label(r)}` : `${label(r)} for ${formatDuration(r.durationMs)}`;
  return {
    type: 'submenu', id: `request-${r.id}`, label: `${what} — waiting for approval`,
    items: [
      { type: 'action', id: `request-${r.id}-cancel`, label: 'Cancel request', action: { kind: 'cancel_request', requestId: r.id } },
      open(`request-${r.id}-open`, 'Open', { view: 'request', requestId: r.id }),
    ],
  };
}

function grantItem(g: GrantView, phase: GrantPhase, at: number, fmt: IntentFormat): TrayMenuItem {
  const end = expiresAtOf(g);
  const endItem: TrayMenuItem = { type: 'action', id: `grant-${g.id}-end`, label: 'End now', action: { kind: 'end_grant', grantId: g.id } };
  const openItem = open(`grant-${g.id}-open`, 'Open', { view: 'grant', grantId: g.id });
  if (phase === 'active' && end !== null) {
    const copies: TrayMenuItem[] = g.hasCredential
      ? copyableFields(g.connector).map(({ field, label: what }) => ({ type: 'action', id: `grant-${g.id}-copy-${field}`, label: `Copy ${what}`, action: { kind: 'copy_credential', grantId: g.id, field } }))
      : [];
    const extend: TrayMenuItem[] = g.extensionsUsed < g.extensionsAllowed ? [open(`grant-${g.id}-extend`, 'Extend…', { view: 'grant', grantId: g.id, extend: true })] : [];
    return {
      type: 'submenu', id: `grant-${g.id}`, label: `${label(g)} — ${formatRemainingCoarse(end - at)} left`,
      items: [{ type: 'label', id: `grant-${g.id}-ends`, label: `Ends at ${fmt.time(end)}` }, ...copies, ...extend, endItem, openItem],
    };
  }
  const starts = g.startAt !== null ? Date.parse(g.startAt) : null;
  const status = phase === 'scheduled' && starts !== null ? `starts at ${fmt.time(starts)}` : 'being set up…';
  return { type: 'submenu', id: `grant-${g.id}`, label: `${label(g)} — ${status}`, items: [{ ...endItem, label: phase === 'scheduled' ? 'Cancel' : 'End now' }, openItem] };
}

function endOf(g: GrantView, phase: GrantPhase): number | null {
  if (phase === 'expired') return expiresAtOf(g);
  if (g.endReason === 'expired' && g.expiresAt !== null) return expiresAtOf(g);
  if (g.endedAt !== null) return Date.parse(g.endedAt);
  return expiresAtOf(g);
}

function endedText(g: GrantView, phase: GrantPhase): string {
  if (phase === 'failed') return 'Not granted';
  if (phase === 'expired') return 'Expired';
  switch (g.endReason) {
    case 'expired':
    case null:
      return 'Expired';
    case 'ended_by_user':
      return 'Ended';
    case 'revoked_by_admin':
      return 'Revoked';
    default:
      return assertNever(g.endReason, 'end reason');
  }
}

const signOut = (): TrayMenuItem => ({ type: 'action', id: 'sign-out', label: 'Sign out', action: { kind: 'sign_out' } });
const quit = (): TrayMenuItem => ({ type: 'action', id: 'quit', label: 'Quit', action: { kind: 'quit' } });

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
