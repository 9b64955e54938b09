import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { configSchema, policySchema, type Policy } from './config.js';
import { autoApproves, checkDuration, describeApprovers, isApprover, mayRequest, mayReview, policyFor, reviewOutcome, type Principal, type Review } from './policy.js';

const H = 3_600_000;
const M = 60_000;

const policy = (over: Record<string, unknown> = {}): Policy =>
  policySchema.parse({ resource: 'pg-prod', requesters: ['eng'], approvers: { groups: ['sre'], users: ['dana'] }, maxDuration: '4h', ...over });

const user = (name: string, groups: string[] = [], admin = false): Principal => ({ name, groups, admin });
const alice = user('alice', ['eng']);
const bob = user('bob', ['sre']);
const dana = user('dana', []);
const erin = user('erin', ['ops']);

describe('mayRequest', () => {
  it('lets members of a requester group request, nobody else', () => {
    expect(mayRequest(alice, policy())).toBe(true);
    expect(mayRequest(bob, policy())).toBe(false);
    expect(mayRequest(user('root', [], true), policy())).toBe(false);
  });
});

describe('mayReview', () => {
  it('approver groups and named approvers may review; others may not', () => {
    expect(mayReview(bob, 'alice', policy())).toBe(true);
    expect(mayReview(dana, 'alice', policy())).toBe(true);
    expect(mayReview(alice, 'dave', policy())).toBe(false);
    expect(isApprover(erin, policy())).toBe(false);
  });

  it('refuses self-review by default, even to an approver', () => {
    expect(mayReview(bob, 'bob', policy())).toBe(false);
    expect(mayReview(dana, 'dana', policy())).toBe(false);
  });

  it('allows self-review only where the policy says so', () => {
    expect(mayReview(bob, 'bob', policy({ selfApproval: true }))).toBe(true);
    // selfApproval does not make a non-approver an approver.
    expect(mayReview(alice, 'alice', policy({ selfApproval: true }))).toBe(false);
  });
});

describe('autoApproves', () => {
  const p = policy({ autoApprove: [{ groups: ['ops'], roles: ['readonly'] }] });

  it('approves members of the rule groups for the rule roles only', () => {
    expect(autoApproves(erin, p, 'readonly')).toBe(true);
    expect(autoApproves(erin, p, 'admin')).toBe(false);
    expect(autoApproves(alice, p, 'readonly')).toBe(false);
  });

  it('a rule without roles covers every role; no rules approve nothing', () => {
    expect(autoApproves(erin, policy({ autoApprove: [{ groups: ['ops'] }] }), 'admin')).toBe(true);
    expect(autoApproves(erin, policy(), 'readonly')).toBe(false);
  });
});

describe('checkDuration', () => {
  it('accepts a duration up to and including the maximum', () => {
    expect(checkDuration(30 * M, 4 * H)).toEqual({ ok: true, ms: 30 * M });
    expect(checkDuration(4 * H, 4 * H)).toEqual({ ok: true, ms: 4 * H });
  });

  it('refuses a duration above the maximum, naming the maximum (B16)', () => {
    const r = checkDuration(6 * H, 2 * H);
    expect(r).toMatchObject({ ok: false, code: 'duration_exceeds_max', max: '2h' });
    if (!r.ok) expect(r.message).toContain('2h');
    expect(checkDuration(4 * H + 1, 4 * H).ok).toBe(false);
  });

  it('uses the default when none is asked for, and the maximum when there is no default', () => {
    expect(checkDuration(undefined, 4 * H, 30 * M)).toEqual({ ok: true, ms: 30 * M });
    expect(checkDuration(undefined, 4 * H)).toEqual({ ok: true, ms: 4 * H });
  });

  it('never gives a default above the maximum', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 * 24 * 60 }), fc.option(fc.integer({ min: 1, max: 10 * 24 * 60 }), { nil: undefined }), (maxMin, defMin) => {
        const r = checkDuration(undefined, maxMin * M, defMin === undefined ? undefined : defMin * M);
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.ms).toBeLessThanOrEqual(maxMin * M);
      }),
    );
  });

  it('never accepts anything above the maximum', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e9 }), fc.integer({ min: 1, max: 1e9 }), (asked, max) => {
        const r = checkDuration(asked, max);
        expect(r.ok).toBe(asked <= max);
        if (r.ok) expect(r.ms).toBe(asked);
      }),
    );
  });
});

describe('reviewOutcome', () => {
  const approve = (reviewer: string): Review => ({ reviewer, decision: 'approve' });
  const deny = (reviewer: string): Review => ({ reviewer, decision: 'deny' });

  it('stays pending until N distinct approvers said yes', () => {
    const p = policy({ approvals: 2 });
    expect(reviewOutcome([], p, 3)).toBe('pending');
    expect(reviewOutcome([approve('bob')], p, 3)).toBe('pending');
    // The same approver twice is one approval.
    expect(reviewOutcome([approve('bob'), approve('bob')], p, 3)).toBe('pending');
    expect(reviewOutcome([approve('bob'), approve('carol')], p, 3)).toBe('approved');
  });

  it('one approval is enough with the default threshold', () => {
    expect(reviewOutcome([approve('bob')], policy(), 2)).toBe('approved');
  });

  it('with denyEndsRequest (the default) the first deny ends the request, even after approvals', () => {
    const p = policy({ approvals: 2 });
    expect(reviewOutcome([deny('bob')], p, 5)).toBe('denied');
    expect(reviewOutcome([approve('bob'), deny('carol')], p, 5)).toBe('denied');
  });

  it('without denyEndsRequest a deny only counts against the request', () => {
    const p = policy({ approvals: 2, denyEndsRequest: false });
    // 4 eligible, 1 denied: 3 can still approve.
    expect(reviewOutcome([deny('bob')], p, 4)).toBe('pending');
    expect(reviewOutcome([deny('bob'), approve('carol'), approve('dana')], p, 4)).toBe('approved');
    // 3 eligible, 2 denied: only 1 left, 2 needed.
    expect(reviewOutcome([deny('bob'), deny('carol')], p, 3)).toBe('denied');
    // 2 eligible, 1 denied: the approvals can no longer be reached.
    expect(reviewOutcome([deny('bob')], p, 2)).toBe('denied');
  });
});

describe('policyFor and describeApprovers', () => {
  const config = configSchema.parse({
    groups: { eng: {}, sre: {} },
    resources: { 'pg-prod': { connector: 'pass', roles: { readonly: {}, admin: {} } } },
    policies: [
      { resource: 'pg-prod', roles: ['readonly'], requesters: ['eng'], approvers: { groups: ['sre'] }, maxDuration: '4h' },
    ],
  });

  it('finds the policy covering a role, and none for an uncovered or unknown role', () => {
    expect(policyFor(config, 'pg-prod', 'readonly')?.maxDuration).toBe(4 * H);
    expect(policyFor(config, 'pg-prod', 'admin')).toBeUndefined();
    expect(policyFor(config, 'pg-prod', 'nope')).toBeUndefined();
    expect(policyFor(config, 'nope', 'readonly')).toBeUndefined();
  });

  it('finds no resource or role named after what every object inherits, even under a policy for all roles', () => {
    const all = configSchema.parse({ ...config, policies: [{ resource: 'pg-prod', requesters: ['eng'], approvers: { groups: ['sre'] }, maxDuration: '4h' }] });
    expect(policyFor(all, 'pg-prod', 'admin')?.maxDuration).toBe(4 * H);
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      expect(policyFor(all, name, 'readonly'), name).toBeUndefined();
      expect(policyFor(all, 'pg-prod', name), name).toBeUndefined();
    }
  });

  it('lists approver groups and users for people to read', () => {
    expect(describeApprovers(policy())).toEqual(['group:sre', 'user:dana']);
  });
});
