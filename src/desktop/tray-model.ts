/**
 * The tray, as data (DESIGN.md "Desktop agent"; STYLE.md §5): a pure function from the snapshot
 * and the time to the icon, the approvals count, the title, the tooltip and the menu. The Electron
 * shell turns the model into a Tray and a Menu and sets both again each time the agent renders a
 * new model (after every change, and when a remaining time shown in it changes — minute
 * resolution, so at most once a minute per grant).
 *
 * Every action is in the menu (B32): some Linux trays (AppIndicator) deliver no click events and
 * show no tooltip or title, so nothing depends on clicking the icon and everything the icon,
 * tooltip and title say is in the menu too. Actions that need more input (deny needs a comment,
 * extend a duration) open the window on the right place.
 *
 * The icon, first match wins:
 * 1. `attention`: something needs me and nothing else will fix it — the server signed this device
 *    out; the keychain is unavailable, locked, denied or not answering (secrets are in memory for
 *    this run only, B34); the event stream is offline with data shown (it may be out of date); a
 *    revoke keeps failing (on my grant, or on one I approve for). It wins because the other states
 *    may be wrong while it lasts, and the count and the expiry stay in the tooltip and title.
 * 2. `pending`: approvals wait for me (their number in the tooltip, the macOS title and "Pending
 *    approvals (N)"). Someone is blocked on me, which matters more than what I hold.
 * 3. `active`: I hold an active grant (the next expiry in the tooltip and the macOS title).
 * 4. `idle`: none of these — my own requests in flight and grants being set up included (the menu
 *    lists them; nothing needs me).
 */
import type { GrantView, RequestView } from '../shared/api.js';
import { copyableFields, type DesktopSnapshot, type KeychainStatusName, type WindowTarget } from '../shared/desktop-api.js';
import { formatRemainingCoarse } from '../shared/countdown.js';
import { formatDuration } from '../shared/duration.js';
import { assertNever } from '../shared/states.js';
import { UTC_FORMAT, type IntentFormat } from './intents.js';
import { awaitsMyReview, expiresAtOf, grantPhaseAt, type GrantPhase } from './state.js';

export type TrayIcon = 'idle' | 'pending' | 'active' | 'attention';

/** Why the icon says `attention`, in the order the tooltip names them. */
export type TrayAttention = 'signed_out_by_server' | 'keychain' | 'revoke_failing' | 'offline';

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
  /** Why `attention` (empty for the other icons). */
  attention: TrayAttention[];
  /** Approvals waiting for me: in the tooltip, the title and "Pending approvals (N)". */
  approvals: number;
  /**
   * Beside the icon in the macOS menu bar: the approvals waiting and the time left on the next
   * grant to end (`2 · 42m`); '' when there is neither.
   */
  title: string;
  tooltip: string;
  menu: TrayMenuItem[];
}

/**
 * A revoke that keeps failing on someone else's grant that I approve for (or, as an admin, see):
 * the snapshot holds only my own grants, so this comes from the `grant.revoke_failed` events.
 */
export interface RevokeFailure {
  grantId: string;
  requestId: string | null;
  user: string;
  resource: string;
  role: string;
}

export interface TrayModelOptions {
  /** How a server time reads (`11:00`); default `HH:MM UTC`. */
  format?: IntentFormat;
  /** How long an ended grant stays under "Recently ended" (default 12 h). */
  recentlyEndedMs?: number;
  /** Revokes failing on others' grants (approvers and admins); none by default. */
  revokeFailures?: readonly RevokeFailure[];
}

const RECENTLY_ENDED_MS = 12 * 3_600_000;
const RECENTLY_ENDED_MAX = 5;
const PRODUCT = 'Latch';

const label = (x: { resource: string; role: string }) => `${x.resource}/${x.role}`;
const open = (id: string, text: string, target: WindowTarget): TrayMenuItem => ({ type: 'action', id, label: text, action: { kind: 'open_window', target } });
const sep = (id: string): TrayMenuItem => ({ type: 'separator', id });
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** What the tray works from, computed once per model. */
interface Facts {
  s: DesktopSnapshot;
  /** Server time. */
  at: number;
  fmt: IntentFormat;
  awaiting: RequestView[];
  phases: { g: GrantView; phase: GrantPhase }[];
  /** My active grants, the next to end first. */
  active: GrantView[];
  myPending: RequestView[];
  /** My grants whose revoke keeps failing (still `revoking`, with an error). */
  myRevokeFailures: GrantView[];
  revokeFailures: readonly RevokeFailure[];
  signedOutByServer: boolean;
  keychainProblem: boolean;
}

export function trayModel(s: DesktopSnapshot, now: number, opts: TrayModelOptions = {}): TrayModel {
  const at = now + s.serverOffsetMs;
  const me = s.user?.name ?? null;
  const ready = s.phase === 'ready';
  const phases = ready ? s.grants.map((g) => ({ g, phase: grantPhaseAt(g, at) })) : [];
  const myRevokeFailures = phases.filter((p) => p.phase === 'revoking' && p.g.lastRevokeError !== null).map((p) => p.g);
  const f: Facts = {
    s, at, fmt: opts.format ?? UTC_FORMAT,
    awaiting: ready && me !== null ? s.reviewQueue.filter((r) => awaitsMyReview(r, me)) : [],
    phases,
    active: phases.filter((p) => p.phase === 'active').map((p) => p.g).sort((a, b) => (expiresAtOf(a) ?? Infinity) - (expiresAtOf(b) ?? Infinity)),
    myPending: ready ? s.requests.filter((r) => r.state === 'pending') : [],
    myRevokeFailures,
    revokeFailures: ready ? (opts.revokeFailures ?? []).filter((r) => !myRevokeFailures.some((g) => g.id === r.grantId)) : [],
    // After a sign-out of my own there is no such notice (enrolling again drops it).
    signedOutByServer: s.phase === 'signed_out' && s.notices.some((n) => n.kind === 'signed_out'),
    keychainProblem: s.keychain.status !== 'available',
  };

  const attention: TrayAttention[] = [];
  if (f.signedOutByServer) attention.push('signed_out_by_server');
  if (f.keychainProblem) attention.push('keychain');
  if (f.myRevokeFailures.length + f.revokeFailures.length > 0) attention.push('revoke_failing');
  // Only with data on show: before the first load the agent reports `offline` for "no stream
  // yet", and the menu's "Loading…" says what there is to say.
  if (ready && s.connection.state === 'offline') attention.push('offline');

  const icon: TrayIcon =
    attention.length > 0 ? 'attention'
    : f.awaiting.length > 0 ? 'pending'
    : f.active.length > 0 ? 'active'
    : 'idle';

  return {
    icon, attention, approvals: f.awaiting.length, title: title(f), tooltip: tooltip(f),
    menu: menu(f, opts.recentlyEndedMs ?? RECENTLY_ENDED_MS),
  };
}

/** The next grant to end, and when (server ms). */
function nextEnd(f: Facts): { g: GrantView; end: number } | null {
  const g = f.active[0];
  const end = g === undefined ? null : expiresAtOf(g);
  return g === undefined || end === null ? null : { g, end };
}

function title(f: Facts): string {
  const next = nextEnd(f);
  return [...(f.awaiting.length > 0 ? [String(f.awaiting.length)] : []), ...(next ? [formatRemainingCoarse(next.end - f.at)] : [])].join(' · ');
}

function tooltip(f: Facts): string {
  const { s } = f;
  switch (s.phase) {
    case 'signed_out':
      return `${PRODUCT} — ${[f.signedOutByServer ? 'signed out by the server: sign in again' : 'not signed in', ...problems(f)].join(' · ')}`;
    case 'loading':
      return `${PRODUCT} — ${['loading…', ...problems(f)].join(' · ')}${connectionNote(f)}`;
    case 'ready':
      break;
    default:
      return assertNever(s.phase, 'phase');
  }
  // What matters most first: Windows cuts a tooltip at 127 characters.
  const parts: string[] = [];
  if (f.awaiting.length > 0) parts.push(`${plural(f.awaiting.length, 'approval')} waiting`);
  parts.push(...problems(f));
  const next = nextEnd(f);
  if (f.active.length === 0) parts.push('no active access');
  else parts.push(`${f.active.length} active${next ? `, next ends in ${formatRemainingCoarse(next.end - f.at)} (${label(next.g)} at ${f.fmt.time(next.end)})` : ''}`);
  return `${PRODUCT} — ${parts.join(' · ')}${connectionNote(f)}`;
}

/** The keychain and revoke problems, short (the menu has the full sentence). */
function problems(f: Facts): string[] {
  const out: string[] = [];
  if (f.keychainProblem) out.push(keychainShort(f.s.keychain.status));
  const revokes = f.myRevokeFailures.length + f.revokeFailures.length;
  if (revokes > 0) out.push(`${plural(revokes, 'revoke')} failing`);
  return out;
}

function keychainShort(status: KeychainStatusName): string {
  switch (status) {
    case 'available':
      return 'keychain available';
    case 'unavailable':
      return 'secure storage unavailable';
    case 'locked':
      return 'keychain locked';
    case 'denied':
      return 'keychain access denied';
    case 'timeout':
      return 'keychain not answering';
    default:
      return assertNever(status, 'keychain status');
  }
}

function connectionNote(f: Facts): string {
  const { s, fmt } = f;
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

function menu(f: Facts, recentlyEndedMs: number): TrayMenuItem[] {
  const { s, at, fmt, awaiting, phases, myPending } = f;
  const tail: TrayMenuItem[] = [sep('sep-tail'), open('open-window', 'Open window', { view: 'home' })];
  const keychain: TrayMenuItem[] = f.keychainProblem
    ? [{ type: 'label', id: 'keychain-status', label: s.keychain.message }, { type: 'action', id: 'keychain-retry', label: 'Retry keychain', action: { kind: 'retry_keychain' } }, sep('sep-keychain')]
    : [];
  switch (s.phase) {
    case 'signed_out': {
      const status = f.signedOutByServer ? 'Signed out by the Latch server: sign in again with a new code' : 'Not signed in';
      return [{ type: 'label', id: 'status', label: status }, ...keychain, open('enroll', 'Sign in…', { view: 'enroll' }), ...tail, quit()];
    }
    case 'loading':
      return [{ type: 'label', id: 'status', label: `Loading…${connectionNote(f)}` }, ...keychain, ...tail, signOut(), quit()];
    case 'ready':
      break;
    default:
      return assertNever(s.phase, 'phase');
  }

  const items: TrayMenuItem[] = [];
  if (s.connection.state !== 'live') items.push({ type: 'label', id: 'status', label: connectionNote(f).replace(/^ · /, '') }, sep('sep-status'));
  items.push(...keychain, ...revokeItems(f));
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

/** Revokes that keep failing: each opens where the window shows it (the target keeps my access meanwhile). */
function revokeItems(f: Facts): TrayMenuItem[] {
  if (f.myRevokeFailures.length + f.revokeFailures.length === 0) return [];
  return [
    ...f.myRevokeFailures.map((g) => open(`revoke-${g.id}`, `Revoke failing: your ${label(g)} access (Latch keeps retrying)`, { view: 'grant', grantId: g.id })),
    ...f.revokeFailures.map((r) => open(`revoke-${r.grantId}`, `Revoke failing: ${r.user} on ${label(r)} (Latch keeps retrying)`, r.requestId === null ? { view: 'approvals' } : { view: 'request', requestId: r.requestId })),
    sep('sep-revokes'),
  ];
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
