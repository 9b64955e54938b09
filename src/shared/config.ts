/**
 * Configuration as code: groups, resources and policies (DESIGN.md, "Domain"). The server loads
 * it from YAML (src/server/config); the schema lives here so the API and the UI share its types.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { hasOwn, own } from './own.js';

const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
export const nameSchema = z
  .string()
  .regex(NAME, 'use lower-case letters, digits, "-" and "_", starting with a letter (at most 63)');

const DURATION_HINT = 'write it like 30m, 2h or 1h30m';

/** A duration written as `30m`, `2h`… parsed to milliseconds. */
export const durationSchema = z.preprocess(
  (value, ctx) => {
    // YAML reads `maxDuration: 0` or `60` as a number: say what to write, not "must be a string".
    if (typeof value !== 'number') return value;
    ctx.addIssue({ code: 'custom', message: `${value} is a number without a unit, not a duration; ${DURATION_HINT}` });
    return z.NEVER;
  },
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration; ${DURATION_HINT}` });
      return z.NEVER;
    }
    return ms;
  }),
);

const groupSchema = z.strictObject({
  description: z.string().max(200).optional(),
  /** Users named here are created on start if missing and always belong to the group. */
  members: z.array(nameSchema).default([]),
});

const roleSchema = z.strictObject({
  description: z.string().max(200).optional(),
});

const resourceSchema = z.strictObject({
  description: z.string().max(200).optional(),
  connector: nameSchema,
  /** Connector-specific; each connector validates its own part. */
  config: z.record(z.string(), z.unknown()).default({}),
  roles: z.record(nameSchema, roleSchema).refine((r) => Object.keys(r).length > 0, 'a resource needs at least one role'),
});

const approversSchema = z.strictObject({
  groups: z.array(nameSchema).default([]),
  users: z.array(nameSchema).default([]),
});

const autoApproveSchema = z.strictObject({
  groups: z.array(nameSchema).min(1),
  roles: z.array(nameSchema).optional(),
});

export const policySchema = z
  .strictObject({
    resource: nameSchema,
    /** Roles this policy covers; all the resource's roles when absent. */
    roles: z.array(nameSchema).min(1).optional(),
    /** Groups whose members may request. */
    requesters: z.array(nameSchema).min(1),
    approvers: approversSchema.prefault({}),
    /** Distinct approvals needed. */
    approvals: z.number().int().min(1).max(10).default(1),
    /** Whether one deny ends the request (otherwise denies only count against it). */
    denyEndsRequest: z.boolean().default(true),
    defaultDuration: durationSchema.optional(),
    maxDuration: durationSchema,
    reasonRequired: z.boolean().default(true),
    /** How long a request may stay pending before it times out. */
    approveWithin: durationSchema.prefault('24h'),
    scheduledStart: z.strictObject({ allowed: z.boolean(), maxAhead: durationSchema.prefault('7d') }).prefault({ allowed: false }),
    extensions: z
      .strictObject({
        max: z.number().int().min(0).max(100).default(0),
        maxDuration: durationSchema.optional(),
        requireApproval: z.boolean().default(true),
      })
      .prefault({}),
    selfApproval: z.boolean().default(false),
    autoApprove: z.array(autoApproveSchema).default([]),
    breakGlass: z
      .strictObject({ allowed: z.boolean(), maxDuration: durationSchema.prefault('1h') })
      .prefault({ allowed: false }),
  })
  .superRefine((p, ctx) => {
    if (p.defaultDuration !== undefined && p.defaultDuration > p.maxDuration) {
      ctx.addIssue({ code: 'custom', path: ['defaultDuration'], message: 'defaultDuration is longer than maxDuration' });
    }
    if (p.approvers.groups.length === 0 && p.approvers.users.length === 0 && p.autoApprove.length === 0 && !p.breakGlass.allowed) {
      ctx.addIssue({ code: 'custom', path: ['approvers'], message: 'nobody can approve: name approver groups or users, or an autoApprove rule' });
    }
  });

export const configSchema = z
  .strictObject({
    groups: z.record(nameSchema, groupSchema).default({}),
    resources: z.record(nameSchema, resourceSchema).default({}),
    policies: z.array(policySchema).default([]),
  })
  .superRefine((c, ctx) => {
    c.policies.forEach((p, i) => {
      const resource = own(c.resources, p.resource);
      if (!resource) {
        ctx.addIssue({ code: 'custom', path: ['policies', i, 'resource'], message: `no resource named "${p.resource}" under resources` });
        return;
      }
      p.roles?.forEach((role, j) => {
        if (!hasOwn(resource.roles, role)) {
          ctx.addIssue({ code: 'custom', path: ['policies', i, 'roles', j], message: `resource "${p.resource}" has no role "${role}"` });
        }
      });
      const groupLists: [string, string[]][] = [
        ['requesters', p.requesters],
        ['approvers.groups', p.approvers.groups],
        ...p.autoApprove.map((r, k): [string, string[]] => [`autoApprove.${k}.groups`, r.groups]),
      ];
      p.autoApprove.forEach((rule, k) => {
        rule.groups.forEach((g, j) => {
          if (!p.requesters.includes(g)) {
            ctx.addIssue({ code: 'custom', path: ['policies', i, 'autoApprove', k, 'groups', j], message: `group "${g}" is not among this policy's requesters, so this rule can never apply; add it to requesters or remove it` });
          }
        });
      });
      for (const [where, groups] of groupLists) {
        groups.forEach((g, k) => {
          if (!hasOwn(c.groups, g)) {
            ctx.addIssue({ code: 'custom', path: ['policies', i, ...where.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s)), k], message: `no group named "${g}" under groups` });
          }
        });
      }
    });
    const seen = new Set<string>();
    c.policies.forEach((p, i) => {
      const roles = p.roles ?? Object.keys(own(c.resources, p.resource)?.roles ?? {});
      for (const role of roles) {
        const key = `${p.resource}/${role}`;
        if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['policies', i], message: `a second policy for ${key}; each resource role has one policy` });
        seen.add(key);
      }
    });
  });

export type LatchConfig = z.output<typeof configSchema>;
export type Policy = z.output<typeof policySchema>;
export type ResourceConfig = LatchConfig['resources'][string];
