/**
 * The request form's rules, before anything is sent: what I may pick (from the resources the
 * agent fetched), what I already have or already asked for on that role, and whether the form is
 * complete. The server checks everything again; these checks only spare a round trip and say
 * what to fix next to the field.
 */
import type { GrantView, RequestView, ResourceView } from '../../../src/shared/api.js';
import { countdown, type Countdown } from '../../../src/shared/countdown.js';
import type { RequestAccessBody } from '../../../src/shared/desktop-api.js';
import { formatDuration } from '../../../src/shared/duration.js';
import { checkReason } from '../../../src/shared/reason.js';
import { grantPhaseAt } from './access.js';
import { parseCustomDuration } from './presets.js';
import { formatAge } from './time.js';

export type RolePolicy = ResourceView['roles'][number];

export function findPolicy(resources: readonly ResourceView[], resource: string, role: string): RolePolicy | null {
  return resources.find((r) => r.name === resource)?.roles.find((p) => p.role === role) ?? null;
}

/**
 * What the form starts with from a `latch://request?resource=…&role=…` link (or the hash): kept
 * only when I may request it, a resource alone picks its first role.
 */
export function prefillSelection(resources: readonly ResourceView[], query: Record<string, string>): { resource: string; role: string; unknown: string | null } {
  const first = resources[0];
  const fallback = { resource: first?.name ?? '', role: first?.roles[0]?.role ?? '' };
  const wanted = query.resource;
  if (wanted === undefined || wanted === '') return { ...fallback, unknown: null };
  const res = resources.find((r) => r.name === wanted);
  const label = query.role ? `${wanted}/${query.role}` : wanted;
  if (!res) return { ...fallback, unknown: label };
  const role = res.roles.find((p) => p.role === query.role);
  if (query.role && !role) return { resource: res.name, role: res.roles[0]?.role ?? '', unknown: label };
  return { resource: res.name, role: role?.role ?? res.roles[0]?.role ?? '', unknown: null };
}

/** Which link (`#/request_access?resource=…&role=…`) a draft was prefilled from: `pg-prod/readonly`, or '' for none. */
export function prefillKey(query: Record<string, string>): string {
  return query.resource ? `${query.resource}/${query.role ?? ''}` : '';
}

/**
 * The draft to show at a place: the kept one, unless the place is a link for something else (a
 * deep link, a tray item, "Request again"), which starts a fresh draft from the link but keeps the
 * reason already typed. A draft remembers the link it came from, so choosing another resource in
 * the form does not snap back to the link's.
 */
export function draftAt<D extends { prefill: string; reason: string }>(stored: D | null, query: Record<string, string>, fresh: () => D): D {
  const key = prefillKey(query);
  if (stored !== null && (key === '' || stored.prefill === key)) return stored;
  const next = fresh();
  return stored === null ? next : { ...next, reason: stored.reason };
}

/** Access I already have, or asked for, on a resource role. */
export type Existing =
  | { kind: 'active'; grant: GrantView; left: Countdown }
  | { kind: 'starting'; grant: GrantView }
  | { kind: 'pending'; request: RequestView; age: string };

/**
 * Pointed out before submitting: a pending request on the same role first (the server refuses a
 * second one), then a live grant (a new request is allowed, but Extend is usually what is meant).
 */
export function existingAccess(
  lists: { requests: readonly RequestView[]; grants: readonly GrantView[] },
  resource: string,
  role: string,
  now: number,
  serverOffsetMs: number,
): Existing | null {
  const at = now + serverOffsetMs;
  const same = (x: { resource: string; role: string }) => x.resource === resource && x.role === role;
  const pending = lists.requests.find((r) => same(r) && r.kind === 'access' && r.state === 'pending');
  if (pending) return { kind: 'pending', request: pending, age: formatAge(at - Date.parse(pending.createdAt)) };
  for (const g of lists.grants) {
    if (!same(g)) continue;
    const phase = grantPhaseAt(g, at);
    if (phase === 'active' && g.expiresAt !== null) return { kind: 'active', grant: g, left: countdown(g.expiresAt, now, serverOffsetMs) };
    if (phase === 'scheduled' || phase === 'provisioning') return { kind: 'starting', grant: g };
  }
  return null;
}

export interface RequestFormInput {
  resource: string;
  role: string;
  /** A preset (ms) or `custom` with `customDuration` typed. */
  duration: number | 'custom';
  customDuration: string;
  reason: string;
  /** `later` with `startLocal`, a `datetime-local` value (`2026-01-05T14:30`), read in local time. */
  start: 'now' | 'later';
  startLocal: string;
  breakGlass: boolean;
}

export type RequestField = 'resource' | 'duration' | 'reason' | 'startAt';
export type FieldErrors = Partial<Record<RequestField, string>>;

export type RequestFormCheck = { ok: true; body: RequestAccessBody } | { ok: false; errors: FieldErrors };

/** Checks the form against the role's policy at local time `localNow`; the body to send when complete. */
export function checkRequestForm(input: RequestFormInput, policy: RolePolicy | null, localNow: number): RequestFormCheck {
  if (policy === null) return { ok: false, errors: { resource: 'Choose what to access.' } };
  const errors: FieldErrors = {};

  let durationMs: number | null = null;
  if (input.duration === 'custom') {
    const custom = parseCustomDuration(input.customDuration, policy.maxDurationMs);
    if (custom.ok) durationMs = custom.ms;
    else errors.duration = custom.message;
  } else if (input.duration > policy.maxDurationMs || !(input.duration > 0)) {
    errors.duration = `At most ${formatDuration(policy.maxDurationMs)} for this role.`;
  } else {
    durationMs = input.duration;
  }

  const reason = checkReason(input.reason, policy.reasonRequired);
  if (!reason.ok) errors.reason = sentence(reason.message);

  const breakGlass = input.breakGlass && policy.breakGlass;
  let startAt: string | undefined;
  if (input.start === 'later' && policy.scheduledStart && !breakGlass) {
    const ms = input.startLocal === '' ? Number.NaN : new Date(input.startLocal).getTime();
    if (Number.isNaN(ms)) errors.startAt = 'Pick the date and time the access should start.';
    else if (ms <= localNow) errors.startAt = 'The start time has passed; pick a later time, or start when approved.';
    else startAt = new Date(ms).toISOString();
  }

  if (Object.keys(errors).length > 0 || durationMs === null || !reason.ok) return { ok: false, errors };
  const body: RequestAccessBody = { resource: input.resource, role: input.role, duration: formatDuration(durationMs) };
  if (reason.reason !== '') body.reason = reason.reason;
  if (startAt !== undefined) body.startAt = startAt;
  if (breakGlass) body.breakGlass = true;
  return { ok: true, body };
}

/** `a reason is required` → `A reason is required.` (shared messages are written mid-sentence). */
export function sentence(text: string): string {
  const t = text.trim();
  if (t === '') return t;
  return `${t[0]!.toUpperCase()}${t.slice(1)}${/[.!?]$/.test(t) ? '' : '.'}`;
}

export interface ExtendFormInput {
  duration: number | 'custom';
  customDuration: string;
  reason: string;
}

export type ExtendFormCheck = { ok: true; by: string; reason: string | undefined } | { ok: false; errors: Partial<Record<'duration' | 'reason', string>> };

/** The extend form: at most the policy's longest extension, a reason where the policy wants one. */
export function checkExtendForm(input: ExtendFormInput, policy: RolePolicy | null): ExtendFormCheck {
  const errors: Partial<Record<'duration' | 'reason', string>> = {};
  const max = policy?.extensions.maxDurationMs ?? 0;
  let ms: number | null = null;
  if (input.duration === 'custom') {
    const custom = parseCustomDuration(input.customDuration, max);
    if (custom.ok) ms = custom.ms;
    else errors.duration = custom.message.replace('for this role', 'per extension');
  } else if (input.duration > max || !(input.duration > 0)) {
    errors.duration = `At most ${formatDuration(max)} per extension.`;
  } else {
    ms = input.duration;
  }
  const reason = checkReason(input.reason, policy?.reasonRequired ?? true);
  if (!reason.ok) errors.reason = sentence(reason.message.replace('why you need access', 'why you need more time'));
  if (ms === null || !reason.ok) return { ok: false, errors };
  return { ok: true, by: formatDuration(ms), reason: reason.reason === '' ? undefined : reason.reason };
}
