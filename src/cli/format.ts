/** Terminal output: aligned tables, relative times and the one-line summaries with the next step. */
import type { GrantView, RequestView } from '../shared/api.js';
import { formatDuration } from '../shared/duration.js';
import { assertNever } from '../shared/states.js';

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function print(...lines: string[]): void {
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Columns padded to their widest cell; the last column is left ragged. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `45s`, `29m`, `1h30m`: seconds only below a minute, where they matter. */
export function shortDuration(ms: number): string {
  return formatDuration(ms < 60_000 ? ms : Math.round(ms / 60_000) * 60_000);
}

export function relative(iso: string | null, now = Date.now()): string {
  if (iso === null) return '-';
  const ms = Date.parse(iso) - now;
  return ms >= 0 ? `in ${shortDuration(ms)}` : `${shortDuration(-ms)} ago`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function approvalsMissing(r: RequestView): number {
  return Math.max(0, r.approvalsNeeded - r.reviews.filter((v) => v.decision === 'approve').length);
}

/** What a request is waiting for, or how it ended, in one line. */
export function requestSummary(r: RequestView): string {
  const what = r.kind === 'extension' ? `extension ${r.id} of grant ${r.grantId ?? '?'}` : `request ${r.id}`;
  switch (r.state) {
    case 'pending':
      return `${what} pending: waiting for ${plural(approvalsMissing(r), 'approval')} from ${r.approvers.join(', ') || 'nobody (no approvers configured)'}`;
    case 'approved':
      return `${what} approved${r.decidedBy ? ` by ${r.decidedBy}` : ''}${r.kind === 'access' && r.grantId ? `; grant ${r.grantId}` : ''}`;
    case 'denied':
      return `${what} denied${r.decidedBy ? ` by ${r.decidedBy}` : ''}${r.decisionComment ? `: "${r.decisionComment}"` : ''}`;
    case 'cancelled':
      return `${what} cancelled${r.decisionComment ? ` (${r.decisionComment})` : ''}`;
    case 'timed_out':
      return `${what} timed out: nobody decided it before ${r.requestExpiresAt}`;
    default:
      return assertNever(r.state, 'request state');
  }
}

/** When a grant ends (or ended, and why). */
export function grantWhen(g: GrantView, now = Date.now()): string {
  switch (g.state) {
    case 'scheduled':
      return `starts ${relative(g.startAt, now)}`;
    case 'provisioning':
      return 'being set up';
    case 'active':
      return `ends ${relative(g.expiresAt, now)}`;
    case 'revoking':
      return `being revoked (${g.endReason?.replaceAll('_', ' ') ?? 'ended'})${g.lastRevokeError ? `; last try failed: ${g.lastRevokeError}` : ''}`;
    case 'ended':
      return `ended ${relative(g.endedAt, now)} (${g.endReason?.replaceAll('_', ' ') ?? 'ended'})`;
    case 'failed':
      return `failed: ${g.failureReason ?? 'provisioning failed'}`;
    default:
      return assertNever(g.state, 'grant state');
  }
}

export const grantRows = (grants: GrantView[], withUser: boolean, now = Date.now()) =>
  grants.map((g) => [g.id, g.state, ...(withUser ? [g.user] : []), `${g.resource}/${g.role}`, grantWhen(g, now)]);

export const requestRows = (requests: RequestView[], now = Date.now()) =>
  requests.map((r) => [
    r.id,
    r.state,
    r.requester,
    `${r.resource}/${r.role}${r.kind === 'extension' ? ' (extension)' : ''}${r.breakGlass ? ' (break-glass)' : ''}`,
    shortDuration(r.durationMs),
    relative(r.createdAt, now),
    r.reason,
  ]);
