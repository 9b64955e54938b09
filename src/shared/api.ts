/**
 * The HTTP contract of the approval server, declared once (STYLE.md §1): every route's params,
 * query, body and result. The server registers its handlers from this table and validates with
 * these schemas; `/openapi.json` is generated from it; clients are typed from it.
 */
import { z } from 'zod';
import { END_REASONS, GRANT_STATES, REQUEST_KINDS, REQUEST_STATES, type GrantState } from './states.js';
import { nameSchema } from './config.js';
import { deviceNameSchema } from './device-name.js';

export const ERROR_CODES = [
  'bad_request', 'validation_failed', 'unauthorized', 'forbidden', 'not_found', 'conflict',
  'already_resolved', 'already_pending', 'duration_exceeds_max', 'reason_required', 'reason_invalid',
  'reason_too_long', 'not_requestable', 'self_review', 'not_reviewer', 'already_reviewed', 'invalid_state',
  'extension_not_allowed', 'scheduled_start_not_allowed', 'break_glass_not_allowed', 'payload_too_large',
  'unsupported_media_type', 'idempotency_conflict', 'enrollment_invalid', 'token_expired', 'refresh_invalid',
  'rate_limited', 'unavailable', 'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const errorBodySchema = z.object({
  error: z.object({ code: z.enum(ERROR_CODES), message: z.string() }).catchall(z.unknown()),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

const id = z.string().regex(/^[a-z]{1,4}_[0-9A-Za-z]{10,40}$/, 'not a Latch id');
const iso = z.string();
const text = (max: number) => z.string().max(max);

// ---- entities --------------------------------------------------------------------------------

export const userSchema = z.object({ name: z.string(), groups: z.array(z.string()), admin: z.boolean() });
export type UserView = z.infer<typeof userSchema>;

export const reviewSchema = z.object({
  reviewer: z.string(),
  decision: z.enum(['approve', 'deny']),
  comment: z.string().nullable(),
  at: iso,
});

export const requestSchema = z.object({
  id: z.string(),
  kind: z.enum(REQUEST_KINDS),
  state: z.enum(REQUEST_STATES),
  requester: z.string(),
  resource: z.string(),
  role: z.string(),
  /** Milliseconds of access asked for (for an extension: the extra time). */
  durationMs: z.number(),
  reason: z.string(),
  startAt: iso.nullable(),
  breakGlass: z.boolean(),
  createdAt: iso,
  /** When a still-pending request times out (approve-by deadline). */
  requestExpiresAt: iso,
  decidedAt: iso.nullable(),
  decidedBy: z.string().nullable(),
  decisionComment: z.string().nullable(),
  reviews: z.array(reviewSchema),
  approvalsNeeded: z.number(),
  approvers: z.array(z.string()),
  /** The grant this request produced, or (for an extension) the grant it extends. */
  grantId: z.string().nullable(),
  /** Whether the caller may approve or deny it now. */
  canReview: z.boolean(),
});
export type RequestView = z.infer<typeof requestSchema>;

export const grantSchema = z.object({
  id: z.string(),
  requestId: z.string(),
  user: z.string(),
  resource: z.string(),
  role: z.string(),
  connector: z.string(),
  state: z.enum(GRANT_STATES),
  endReason: z.enum(END_REASONS).nullable(),
  durationMs: z.number(),
  startAt: iso.nullable(),
  activatedAt: iso.nullable(),
  expiresAt: iso.nullable(),
  endedAt: iso.nullable(),
  failureReason: z.string().nullable(),
  extensionsUsed: z.number(),
  extensionsAllowed: z.number(),
  breakGlass: z.boolean(),
  hasCredential: z.boolean(),
  revokeAttempts: z.number(),
  lastRevokeError: z.string().nullable(),
});
export type GrantView = z.infer<typeof grantSchema>;

export const EVENT_TYPES = [
  'request.created', 'request.reviewed', 'request.approved', 'request.denied', 'request.cancelled', 'request.timed_out',
  'grant.scheduled', 'grant.provisioning', 'grant.active', 'grant.failed', 'grant.extended', 'grant.revoking',
  'grant.ended', 'grant.revoke_failed', 'grant.cleaned_up', 'break_glass.used', 'user.added', 'user.enrolled', 'config.reloaded',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const eventSchema = z.object({
  id: z.number(),
  type: z.enum(EVENT_TYPES),
  at: iso,
  actor: z.string().nullable(),
  requestId: z.string().nullable(),
  grantId: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
});
export type EventView = z.infer<typeof eventSchema>;

export const policyViewSchema = z.object({
  role: z.string(),
  description: z.string().nullable(),
  maxDurationMs: z.number(),
  defaultDurationMs: z.number(),
  reasonRequired: z.boolean(),
  approvalsNeeded: z.number(),
  approvers: z.array(z.string()),
  autoApproved: z.boolean(),
  scheduledStart: z.boolean(),
  breakGlass: z.boolean(),
  extensions: z.object({ max: z.number(), maxDurationMs: z.number(), requireApproval: z.boolean() }),
  approveWithinMs: z.number(),
});
export const resourceViewSchema = z.object({
  name: z.string(),
  description: z.string().nullable(),
  connector: z.string(),
  roles: z.array(policyViewSchema),
});
export type ResourceView = z.infer<typeof resourceViewSchema>;

export const tokenResponseSchema = z.object({
  accessToken: z.string(),
  refreshToken: z.string(),
  expiresIn: z.number(),
  user: userSchema,
  device: z.object({ id: z.string(), name: z.string() }),
});
export type TokenResponse = z.infer<typeof tokenResponseSchema>;

// ---- inputs -----------------------------------------------------------------------------------

const durationText = z.string().min(1).max(32);

export const createRequestBody = z.strictObject({
  resource: nameSchema,
  role: nameSchema,
  /** `30m`, `2h`…; the policy default when absent. */
  duration: durationText.optional(),
  /** Length rules (10–1024 characters) are the policy's, with their own error codes; the body limit caps the rest. */
  reason: z.string().optional(),
  /** ISO-8601 time for a scheduled start, where the policy allows it. */
  startAt: z.iso.datetime({ offset: true }).optional(),
  breakGlass: z.boolean().optional(),
  /** An OpenSSH public key, for connectors that issue certificates. */
  publicKey: text(16_384).optional(),
});
export type CreateRequestBody = z.infer<typeof createRequestBody>;

export const reviewBody = z.strictObject({ comment: text(1024).optional() });
export const denyBody = z.strictObject({ comment: text(1024).optional() });
export const extendBody = z.strictObject({ by: durationText, reason: z.string().optional() });
export const enrollBody = z.strictObject({ code: z.string().min(1).max(128), device: deviceNameSchema.optional() });
export const refreshBody = z.strictObject({ refreshToken: z.string().min(1).max(256) });
export const addUserBody = z.strictObject({ name: nameSchema, groups: z.array(nameSchema).max(50).default([]), admin: z.boolean().default(false) });
export const empty = z.strictObject({});

/**
 * A count or an event id in a query string (`limit=50`, `after=120`): one whole number written in
 * digits. One sentence for every way it can be wrong (`limit=5&limit=6` arrives as a list,
 * `limit=1e999` as Infinity), rather than zod's "must be a number, not a non-number".
 */
const wholeNumber = (min: number, max: number | undefined, fallback: number) => wholeNumberOrNone(min, max).default(fallback);
function wholeNumberOrNone(min: number, max?: number) {
  const message = max === undefined ? `must be one whole number, ${min} or more` : `must be one whole number from ${min} to ${max}`;
  return z
    .unknown()
    .transform((v, ctx) => {
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d{1,16}\s*$/.test(v) ? Number(v) : NaN;
      if (Number.isSafeInteger(n) && n >= min && (max === undefined || n <= max)) return n;
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    })
    // What /openapi.json says of it (a transform has no JSON Schema of its own).
    .meta({ type: 'integer', minimum: min, ...(max === undefined ? {} : { maximum: max }) });
}

/** Requests newest first (by creation; the id breaks ties), the newest `limit` of them. */
export const requestListQuery = z.strictObject({
  scope: z.enum(['mine', 'review', 'all']).default('mine'),
  state: z.enum(REQUEST_STATES).optional(),
  limit: wholeNumber(1, 500, 100),
});

const oneGrantState = `(?:${GRANT_STATES.join('|')})`;
/** One grant state, or several separated by commas: `scheduled,provisioning,active,revoking`. */
const grantStates = z
  .string()
  .regex(new RegExp(`^${oneGrantState}(?:,${oneGrantState})*$`), `must be one of ${GRANT_STATES.map((s) => JSON.stringify(s)).join(', ')}, or several of them separated by commas`)
  .describe('one grant state, or several separated by commas')
  .transform((s) => [...new Set(s.split(','))] as GrantState[]);
/**
 * Grants newest first (by when their request was made; the grant id breaks ties), the newest
 * `limit` of them. Ended grants newer than an unfinished one can push it past the limit: ask for
 * `state=scheduled,provisioning,active,revoking` (UNFINISHED_GRANT_STATES) to see all of those.
 */
export const grantListQuery = z.strictObject({
  scope: z.enum(['mine', 'all']).default('mine'),
  state: grantStates.optional(),
  limit: wholeNumber(1, 500, 100),
});
export const auditQuery = z.strictObject({
  after: wholeNumber(0, undefined, 0),
  limit: wholeNumber(1, 1000, 200),
});
export const eventsQuery = z.strictObject({ after: wholeNumberOrNone(0).optional() });
export const idParams = z.strictObject({ id });

// ---- the route table --------------------------------------------------------------------------

export type Auth = 'none' | 'user' | 'admin';
interface RouteDef {
  method: 'GET' | 'POST';
  path: string;
  auth: Auth;
  summary: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  response: z.ZodType;
  /** Status of a successful answer. */
  status?: number;
}

const listOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });

export const routes = {
  enroll: { method: 'POST', path: '/v1/enroll', auth: 'none', summary: 'Exchange a one-time enrollment code for a device credential', body: enrollBody, response: tokenResponseSchema },
  refresh: { method: 'POST', path: '/v1/token/refresh', auth: 'none', summary: 'Rotate a refresh token for a new access token', body: refreshBody, response: tokenResponseSchema },
  signOut: { method: 'POST', path: '/v1/token/revoke', auth: 'user', summary: "Sign this device out (its refresh token stops working)", body: empty, response: z.object({ ok: z.literal(true) }) },
  me: { method: 'GET', path: '/v1/me', auth: 'user', summary: 'Who I am', response: userSchema },
  resources: { method: 'GET', path: '/v1/resources', auth: 'user', summary: 'Resources and roles I may request, with each policy\'s limits and approvers', response: listOf(resourceViewSchema) },
  createRequest: { method: 'POST', path: '/v1/requests', auth: 'user', summary: 'Request access (send an Idempotency-Key header)', body: createRequestBody, response: requestSchema, status: 201 },
  listRequests: { method: 'GET', path: '/v1/requests', auth: 'user', summary: 'Requests: mine, the ones I may review, or all (admins)', query: requestListQuery, response: listOf(requestSchema) },
  getRequest: { method: 'GET', path: '/v1/requests/:id', auth: 'user', summary: 'One request', params: idParams, response: requestSchema },
  approve: { method: 'POST', path: '/v1/requests/:id/approve', auth: 'user', summary: 'Approve a request', params: idParams, body: reviewBody, response: requestSchema },
  deny: { method: 'POST', path: '/v1/requests/:id/deny', auth: 'user', summary: 'Deny a request', params: idParams, body: denyBody, response: requestSchema },
  cancel: { method: 'POST', path: '/v1/requests/:id/cancel', auth: 'user', summary: 'Cancel my pending request', params: idParams, body: empty, response: requestSchema },
  listGrants: { method: 'GET', path: '/v1/grants', auth: 'user', summary: 'Grants, newest first: mine, or all (admins); `state` takes several states, comma-separated', query: grantListQuery, response: listOf(grantSchema) },
  getGrant: { method: 'GET', path: '/v1/grants/:id', auth: 'user', summary: 'One grant', params: idParams, response: grantSchema },
  credential: { method: 'GET', path: '/v1/grants/:id/credential', auth: 'user', summary: "The credential of my active grant", params: idParams, response: z.object({ grantId: z.string(), expiresAt: iso, credential: z.record(z.string(), z.unknown()) }) },
  endGrant: { method: 'POST', path: '/v1/grants/:id/end', auth: 'user', summary: 'End a grant now (revokes on the target)', params: idParams, body: empty, response: grantSchema },
  extendGrant: { method: 'POST', path: '/v1/grants/:id/extend', auth: 'user', summary: 'Ask for more time on an active grant', params: idParams, body: extendBody, response: requestSchema, status: 201 },
  events: { method: 'GET', path: '/v1/events', auth: 'user', summary: 'Server-sent events visible to me (resume with Last-Event-ID)', query: eventsQuery, response: z.string() },
  audit: { method: 'GET', path: '/v1/audit', auth: 'admin', summary: 'The audit trail (admins)', query: auditQuery, response: listOf(eventSchema.extend({ hash: z.string(), prevHash: z.string() })) },
  addUser: { method: 'POST', path: '/v1/admin/users', auth: 'admin', summary: 'Add a user and get their one-time enrollment code', body: addUserBody, response: z.object({ user: z.string(), code: z.string() }), status: 201 },
  listUsers: { method: 'GET', path: '/v1/admin/users', auth: 'admin', summary: 'Users', response: listOf(userSchema) },
  newCode: { method: 'POST', path: '/v1/admin/users/:name/code', auth: 'admin', summary: 'A new enrollment code for a user', params: z.strictObject({ name: nameSchema }), body: empty, response: z.object({ user: z.string(), code: z.string() }), status: 201 },
} as const satisfies Record<string, RouteDef>;

export type RouteName = keyof typeof routes;
export type RouteBody<N extends RouteName> = (typeof routes)[N] extends { body: infer B extends z.ZodType } ? z.input<B> : never;
export type RouteResult<N extends RouteName> = z.infer<(typeof routes)[N]['response']>;
