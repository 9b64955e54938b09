import { describe, expect, it } from 'vitest';
import { checkExtendForm, checkRequestForm, draftAt, existingAccess, findPolicy, prefillKey, prefillSelection, sentence, type RequestFormInput } from './request-form.js';
import { grantView, isoAt, MIN, requestView, resourceView, rolePolicy, T0 } from './test-fixtures.js';

const resources = [
  resourceView({ name: 'demo-pass', connector: 'pass', roles: [rolePolicy({ role: 'read' })] }),
  resourceView({ name: 'pg-prod', roles: [rolePolicy({ role: 'readonly' }), rolePolicy({ role: 'admin', maxDurationMs: 15 * MIN })] }),
];

const input = (over: Partial<RequestFormInput> = {}): RequestFormInput => ({
  resource: 'pg-prod', role: 'readonly', duration: 30 * MIN, customDuration: '', reason: 'INC-1234 check the replica',
  start: 'now', startLocal: '', breakGlass: false, ...over,
});

describe('prefillSelection', () => {
  it('takes a resource and role I may request from the link', () => {
    expect(prefillSelection(resources, { resource: 'pg-prod', role: 'admin' })).toEqual({ resource: 'pg-prod', role: 'admin', unknown: null });
    expect(prefillSelection(resources, { resource: 'pg-prod' })).toEqual({ resource: 'pg-prod', role: 'readonly', unknown: null });
  });

  it('falls back to the first choice and names what it could not find', () => {
    expect(prefillSelection(resources, { resource: 'secret-db', role: 'owner' })).toEqual({ resource: 'demo-pass', role: 'read', unknown: 'secret-db/owner' });
    expect(prefillSelection(resources, { resource: 'pg-prod', role: 'owner' })).toEqual({ resource: 'pg-prod', role: 'readonly', unknown: 'pg-prod/owner' });
    expect(prefillSelection(resources, {})).toEqual({ resource: 'demo-pass', role: 'read', unknown: null });
    expect(prefillSelection([], {})).toEqual({ resource: '', role: '', unknown: null });
  });
});

describe('draftAt: the draft a place shows', () => {
  const fresh = (resource: string, role: string) => () => ({ resource, role, reason: '', prefill: prefillKey({ resource, role }) });

  it('keeps the draft on the plain Request tab and on the link it was made from', () => {
    const kept = { resource: 'pg-prod', role: 'admin', reason: 'INC-1 typed', prefill: 'pg-prod/readonly' };
    expect(draftAt(kept, {}, fresh('x', 'y'))).toBe(kept);
    // Chose another role after following the link: the link does not snap it back.
    expect(draftAt(kept, { resource: 'pg-prod', role: 'readonly' }, fresh('pg-prod', 'readonly'))).toBe(kept);
  });

  it('a link for something else starts from the link, keeping the reason typed (after a request was sent, too)', () => {
    const kept = { resource: 'pg-prod', role: 'readonly', reason: 'INC-1 typed', prefill: 'pg-prod/readonly' };
    expect(draftAt(kept, { resource: 'demo-pass', role: 'read' }, fresh('demo-pass', 'read'))).toEqual({ resource: 'demo-pass', role: 'read', reason: 'INC-1 typed', prefill: 'demo-pass/read' });
    expect(draftAt(null, { resource: 'demo-pass' }, fresh('demo-pass', 'read'))).toEqual({ resource: 'demo-pass', role: 'read', reason: '', prefill: 'demo-pass/read' });
  });
});

describe('existingAccess', () => {
  it('points out a pending request on the same role first', () => {
    const lists = {
      requests: [requestView({ id: 'req_pending001', createdAt: isoAt(-4) })],
      grants: [grantView({ expiresAt: isoAt(20) })],
    };
    expect(existingAccess(lists, 'pg-prod', 'readonly', T0, 0)).toMatchObject({ kind: 'pending', request: { id: 'req_pending001' }, age: '4 min ago' });
  });

  it('then an active grant with its time left, or one that is starting', () => {
    expect(existingAccess({ requests: [], grants: [grantView({ expiresAt: isoAt(20) })] }, 'pg-prod', 'readonly', T0, 0)).toMatchObject({ kind: 'active', left: { text: '0:20:00' } });
    expect(existingAccess({ requests: [], grants: [grantView({ state: 'scheduled', startAt: isoAt(60) })] }, 'pg-prod', 'readonly', T0, 0)).toMatchObject({ kind: 'starting' });
  });

  it('ignores other roles, ended grants, decided requests and extension requests', () => {
    const lists = {
      requests: [requestView({ state: 'denied' }), requestView({ kind: 'extension' }), requestView({ role: 'admin' })],
      grants: [grantView({ state: 'ended', endReason: 'expired' }), grantView({ expiresAt: isoAt(-1) }), grantView({ role: 'admin' })],
    };
    expect(existingAccess(lists, 'pg-prod', 'readonly', T0, 0)).toBeNull();
  });
});

describe('checkRequestForm', () => {
  const policy = findPolicy(resources, 'pg-prod', 'readonly');

  it('builds the body to send', () => {
    expect(checkRequestForm(input(), policy, T0)).toEqual({ ok: true, body: { resource: 'pg-prod', role: 'readonly', duration: '30m', reason: 'INC-1234 check the replica' } });
    expect(checkRequestForm(input({ duration: 'custom', customDuration: '1h' }), policy, T0)).toMatchObject({ ok: true, body: { duration: '1h' } });
  });

  it('refuses more than the maximum and an unreadable custom duration', () => {
    expect(checkRequestForm(input({ duration: 'custom', customDuration: '2h' }), policy, T0)).toEqual({ ok: false, errors: { duration: 'At most 1h for this role; ask for 1h or less.' } });
    expect(checkRequestForm(input({ duration: 2 * 60 * MIN }), policy, T0)).toEqual({ ok: false, errors: { duration: 'At most 1h for this role.' } });
    expect(checkRequestForm(input({ duration: 'custom', customDuration: 'soon' }), policy, T0)).toMatchObject({ ok: false, errors: { duration: expect.stringMatching(/not a duration/) } });
  });

  it('asks for a reason only where the policy does, with the shared rules', () => {
    expect(checkRequestForm(input({ reason: '' }), policy, T0)).toEqual({ ok: false, errors: { reason: 'A reason is required (at least 10 characters).' } });
    expect(checkRequestForm(input({ reason: 'short' }), policy, T0)).toMatchObject({ ok: false, errors: { reason: expect.stringMatching(/too short/) } });
    const optional = rolePolicy({ reasonRequired: false });
    expect(checkRequestForm(input({ reason: '  ' }), optional, T0)).toEqual({ ok: true, body: { resource: 'pg-prod', role: 'readonly', duration: '30m' } });
  });

  it('sends a future start time where the policy allows one, and refuses a past one', () => {
    const scheduled = rolePolicy({ scheduledStart: true });
    const later = new Date(T0 + 90 * MIN);
    const local = `${later.getFullYear()}-${String(later.getMonth() + 1).padStart(2, '0')}-${String(later.getDate()).padStart(2, '0')}T${String(later.getHours()).padStart(2, '0')}:${String(later.getMinutes()).padStart(2, '0')}`;
    expect(checkRequestForm(input({ start: 'later', startLocal: local }), scheduled, T0)).toMatchObject({ ok: true, body: { startAt: later.toISOString() } });
    expect(checkRequestForm(input({ start: 'later', startLocal: local }), scheduled, T0 + 2 * 60 * MIN)).toMatchObject({ ok: false, errors: { startAt: expect.stringMatching(/has passed/) } });
    expect(checkRequestForm(input({ start: 'later', startLocal: '' }), scheduled, T0)).toMatchObject({ ok: false, errors: { startAt: expect.any(String) } });
    // Not allowed by the policy: the field is not offered, and nothing is sent.
    expect(checkRequestForm(input({ start: 'later', startLocal: local }), policy, T0)).toMatchObject({ ok: true, body: { resource: 'pg-prod' } });
  });

  it('sends break-glass only where allowed, and then no start time', () => {
    const bg = rolePolicy({ breakGlass: true, scheduledStart: true });
    const r = checkRequestForm(input({ breakGlass: true, start: 'later', startLocal: '2099-01-01T10:00' }), bg, T0);
    expect(r).toEqual({ ok: true, body: { resource: 'pg-prod', role: 'readonly', duration: '30m', reason: 'INC-1234 check the replica', breakGlass: true } });
    expect(checkRequestForm(input({ breakGlass: true }), policy, T0)).toMatchObject({ ok: true, body: { resource: 'pg-prod' } });
    expect((checkRequestForm(input({ breakGlass: true }), policy, T0) as { body: object }).body).not.toHaveProperty('breakGlass');
  });

  it('asks to choose when nothing is chosen', () => {
    expect(checkRequestForm(input(), null, T0)).toEqual({ ok: false, errors: { resource: 'Choose what to access.' } });
  });
});

describe('sentence', () => {
  it('capitalises and ends a shared message', () => {
    expect(sentence('a reason is required')).toBe('A reason is required.');
    expect(sentence('Done.')).toBe('Done.');
  });
});

describe('checkExtendForm', () => {
  const policy = rolePolicy({ extensions: { max: 2, maxDurationMs: 30 * MIN, requireApproval: true } });

  it('asks for at most the longest extension, with a reason', () => {
    expect(checkExtendForm({ duration: 15 * MIN, customDuration: '', reason: 'the migration is still running' }, policy)).toEqual({ ok: true, by: '15m', reason: 'the migration is still running' });
    expect(checkExtendForm({ duration: 'custom', customDuration: '45m', reason: 'the migration is still running' }, policy)).toEqual({ ok: false, errors: { duration: 'At most 30m per extension; ask for 30m or less.' } });
    expect(checkExtendForm({ duration: 15 * MIN, customDuration: '', reason: '' }, policy)).toEqual({ ok: false, errors: { reason: 'A reason is required (at least 10 characters).' } });
  });

  it('sends no reason where none is needed and none is given', () => {
    expect(checkExtendForm({ duration: 15 * MIN, customDuration: '', reason: '' }, rolePolicy({ reasonRequired: false }))).toEqual({ ok: true, by: '15m', reason: undefined });
  });
});
