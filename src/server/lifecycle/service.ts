/**
 * The request → review → grant → end lifecycle. Every state change happens in one write
 * transaction together with its event, as a compare-and-set on the state it leaves, so concurrent
 * callers get exactly one outcome (FIELD-CASES B17). Connector calls happen outside transactions;
 * their results are written back the same way.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { CreateRequestBody, GrantView, RequestView } from '../../shared/api.js';
import type { LatchConfig, Policy } from '../../shared/config.js';
import type { Clock } from '../../shared/clock.js';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { own } from '../../shared/own.js';
import { autoApproves, checkDuration, isApprover, mayRequest, mayReview, policyFor, reviewOutcome, type Principal } from '../../shared/policy.js';
import { checkReason } from '../../shared/reason.js';
import type { EndReason } from '../../shared/states.js';
import { listPrincipals, newId } from '../auth/identity.js';
import type { Connector, ConnectorRegistry, GrantTarget } from '../connectors/types.js';
import type { EventBus } from '../events/bus.js';
import { appendEvent, canonical, type NewEvent, type StoredEvent } from '../events/log.js';
import { ApiError, notFound } from '../http/errors.js';
import type { Sealer } from '../keys.js';
import type { Db, Store } from '../store/open.js';
import type { GrantsTable, RequestsTable } from '../store/schema.js';
import { grantView, policyOf, requestView } from './views.js';

export interface LifecycleDeps {
  store: Store;
  config: () => LatchConfig;
  clock: Clock;
  connectors: ConnectorRegistry;
  bus: EventBus;
  sealer: Sealer;
  log: Logger;
  /** How long one connector call may take before it counts as failed. */
  connectorTimeoutMs?: number;
  /** Revoke retry backoff: first delay and cap. */
  revokeBackoff?: { firstMs: number; maxMs: number };
}

interface TxContext {
  tx: Db;
  now: number;
  emit(e: NewEvent): Promise<void>;
  /** Work to run once the transaction has committed (connector calls). */
  after(fn: () => Promise<unknown>): void;
  /** This transaction blanked a stored credential: scrub the old bytes from disk before returning. */
  wiped(): void;
}

const CLEANUP_NOTE = 'the grant ended';
/** A provisioning slower than this starts the window at confirmation instead (FIELD-CASES B03). */
const SLOW_PROVISION_MS = 5000;
const MAX_CONCURRENT_REVOKES = 16;
/**
 * Revokes of one resource running at once. A target that hangs (a webhook receiver that never
 * answers, a table lock a revoke waits for) then holds a few slots, never all of them, so revokes
 * on other resources keep going (FIELD-CASES B09). Also the postgres connector's pool size.
 */
const MAX_CONCURRENT_REVOKES_PER_RESOURCE = 4;

const commentOf = (raw: string | undefined): string | null => {
  const c = (raw ?? '').trim();
  if (/[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u.test(c.replace(/\n/g, ''))) throw new ApiError(400, 'validation_failed', 'the comment contains control or invisible characters; use plain text');
  return c === '' ? null : c;
};

/** Revoking grants, and failed ones whose half-made access still has to be cleaned up. */
const needsRevoke = (row: Pick<GrantsTable, 'state' | 'next_revoke_at'>) => row.state === 'revoking' || (row.state === 'failed' && row.next_revoke_at !== null);

export class Lifecycle {
  private readonly inflight = new Set<string>();
  /** Grant id → resource, in the order queued. */
  private readonly revokeQueue = new Map<string, string>();
  private revokesRunning = 0;
  private readonly revokesByResource = new Map<string, number>();
  private readonly timeoutMs: number;
  private readonly backoff: { firstMs: number; maxMs: number };
  /** Called whenever due times may have changed (the scheduler re-arms). */
  onScheduleChange: () => void = () => undefined;
  /** Called when a caller meets an item already past its due time that no sweep has handled yet: run due work now. */
  onOverdue: () => void = () => undefined;

  constructor(private readonly d: LifecycleDeps) {
    this.timeoutMs = d.connectorTimeoutMs ?? 60_000;
    this.backoff = d.revokeBackoff ?? { firstMs: 1000, maxMs: 5 * 60_000 };
  }

  // ---- plumbing -------------------------------------------------------------------------------

  private async commit<T>(fn: (c: TxContext) => Promise<T>): Promise<T> {
    const events: StoredEvent[] = [];
    const after: (() => Promise<unknown>)[] = [];
    const now = this.d.clock.now();
    let wiped = false;
    const result = await this.d.store.write((tx) =>
      fn({ tx, now, emit: async (e) => void events.push(await appendEvent(tx, now, e)), after: (f) => void after.push(f), wiped: () => void (wiped = true) }),
    );
    // "Wiped when it ends" (issue 3): the WAL still holds the page with the sealed credential.
    if (wiped && !(await this.d.store.checkpoint().catch(() => false))) {
      this.d.log.warn('could not empty the store WAL after wiping a credential (another process is reading the store); the next wipe tries again');
    }
    this.d.bus.publish(events);
    this.onScheduleChange();
    for (const f of after) void f().catch((err: unknown) => this.d.log.error({ err }, 'post-commit work failed'));
    return result;
  }

  /** Users who may review a request by `requester` under `policy`, right now. */
  private async reviewers(db: Db, policy: Policy, requester: string): Promise<string[]> {
    return (await listPrincipals(db)).filter((p) => mayReview(p, requester, policy)).map((p) => p.name);
  }

  private async requestAudience(db: Db, row: Pick<RequestsTable, 'requester' | 'policy_json'>): Promise<{ users: string[] }> {
    return { users: [row.requester, ...(await this.reviewers(db, policyOf(row), row.requester))] };
  }

  private async loadRequest(db: Db, id: string): Promise<RequestsTable | undefined> {
    return db.selectFrom('requests').selectAll().where('id', '=', id).executeTakeFirst();
  }

  private async loadGrant(db: Db, id: string): Promise<GrantsTable | undefined> {
    return db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
  }

  private async view(db: Db, row: RequestsTable, viewer: Principal): Promise<RequestView> {
    const reviews = await db.selectFrom('reviews').selectAll().where('request_id', '=', row.id).orderBy('at').execute();
    return requestView(row, reviews, viewer);
  }

  private canSeeRequest(viewer: Principal, row: RequestsTable): boolean {
    return viewer.admin || row.requester === viewer.name || isApprover(viewer, policyOf(row));
  }

  private canSeeGrant(viewer: Principal, row: GrantsTable): boolean {
    return viewer.admin || row.user_name === viewer.name || isApprover(viewer, policyOf(row));
  }

  /** Records an event that is not a state change of a request or grant (config reloads). */
  async commitEvent(e: NewEvent): Promise<void> {
    await this.commit((c) => c.emit(e));
  }

  // ---- requests -------------------------------------------------------------------------------

  async createRequest(user: Principal, body: CreateRequestBody, idempotencyKey?: string): Promise<{ request: RequestView; replayed: boolean }> {
    const bodyHash = createHash('sha256').update(canonical(body)).digest('hex');
    const replay = await this.replay(user, idempotencyKey, bodyHash);
    if (replay) return { request: replay, replayed: true };

    const now = this.d.clock.now();
    const config = this.d.config();
    const resource = own(config.resources, body.resource);
    const policy = policyFor(config, body.resource, body.role);
    if (!resource || !policy || !mayRequest(user, policy)) {
      throw new ApiError(404, 'not_requestable', `you may not request ${body.resource}/${body.role}, or it does not exist; \`latch resources\` lists what you may request`);
    }
    const breakGlass = body.breakGlass === true;
    if (breakGlass && !policy.breakGlass.allowed) throw new ApiError(403, 'break_glass_not_allowed', `break-glass is not allowed for ${body.resource}/${body.role}; make a normal request`);

    const requested = body.duration === undefined ? undefined : parseDuration(body.duration);
    if (requested === null) throw new ApiError(400, 'validation_failed', `"${body.duration}" is not a duration; write it like 30m, 2h or 1h30m (at most ${formatDuration(policy.maxDuration)})`, { field: 'duration', max: formatDuration(policy.maxDuration) });
    const max = breakGlass ? Math.min(policy.maxDuration, policy.breakGlass.maxDuration) : policy.maxDuration;
    const duration = checkDuration(requested, max, policy.defaultDuration);
    if (!duration.ok) throw new ApiError(422, duration.code, duration.message, { max: duration.max, maxMs: max });

    const reason = checkReason(body.reason, policy.reasonRequired);
    if (!reason.ok) throw new ApiError(400, reason.code, reason.message, { field: 'reason' });

    const connectorProblem = this.d.connectors.get(resource.connector)?.checkRequest?.({ resource: body.resource, role: body.role, config: resource.config, publicKey: body.publicKey ?? null });
    if (connectorProblem) throw new ApiError(400, 'validation_failed', connectorProblem, { field: 'publicKey' });

    let startAt: number | null = null;
    if (body.startAt !== undefined) {
      const at = Date.parse(body.startAt);
      if (breakGlass) throw new ApiError(400, 'validation_failed', 'a break-glass request starts now; leave out the start time');
      if (!policy.scheduledStart.allowed) throw new ApiError(422, 'scheduled_start_not_allowed', `${body.resource}/${body.role} does not allow a scheduled start; leave out the start time`);
      if (at < now - 60_000) throw new ApiError(400, 'validation_failed', 'the start time is in the past; give a future time or leave it out', { field: 'startAt' });
      if (at > now + policy.scheduledStart.maxAhead) throw new ApiError(422, 'validation_failed', `the start time is too far ahead: this policy allows at most ${formatDuration(policy.scheduledStart.maxAhead)} from now; pick an earlier time`, { field: 'startAt' });
      startAt = at > now ? at : null;
    }

    const result = await this.commit(async (c) => {
      // Re-checked under the write lock: two identical POSTs racing get one request (B23).
      if (idempotencyKey) {
        const again = await c.tx.selectFrom('idempotency').selectAll().where('user_name', '=', user.name).where('idem_key', '=', idempotencyKey).executeTakeFirst();
        if (again) return { id: this.sameBody(again, bodyHash), replayed: true };
      }
      const pending = await c.tx
        .selectFrom('requests').select('id')
        .where('requester', '=', user.name).where('resource', '=', body.resource).where('role', '=', body.role)
        .where('kind', '=', 'access').where('state', '=', 'pending')
        .executeTakeFirst();
      if (pending) {
        throw new ApiError(409, 'already_pending', `you already have a pending request ${pending.id} for ${body.resource}/${body.role}; wait for it or cancel it`, { requestId: pending.id });
      }
      const row: RequestsTable = {
        id: newId('req'), kind: 'access', state: 'pending', requester: user.name, resource: body.resource, role: body.role,
        duration_ms: duration.ms, reason: reason.reason, start_at: startAt, break_glass: breakGlass ? 1 : 0,
        public_key: body.publicKey ?? null, created_at: c.now, request_expires_at: c.now + policy.approveWithin,
        decided_at: null, decided_by: null, decision_comment: null, policy_json: JSON.stringify(policy), grant_id: null,
        idempotency_key: idempotencyKey ?? null,
      };
      await c.tx.insertInto('requests').values(row).execute();
      if (idempotencyKey) {
        await c.tx.insertInto('idempotency').values({ user_name: user.name, idem_key: idempotencyKey, body_hash: bodyHash, request_id: row.id, created_at: c.now }).execute();
      }
      const audience = await this.requestAudience(c.tx, row);
      await c.emit({
        type: 'request.created', actor: user.name, requestId: row.id, audience: breakGlass ? { ...audience, all: true } : audience,
        data: { kind: 'access', requester: user.name, resource: row.resource, role: row.role, durationMs: row.duration_ms, reason: row.reason, breakGlass, startAt: body.startAt ?? null },
      });
      if (breakGlass) {
        await c.emit({ type: 'break_glass.used', actor: user.name, requestId: row.id, audience: { ...audience, all: true }, data: { resource: row.resource, role: row.role, reason: row.reason, reviewAfter: true } });
        await this.decide(c, row, 'approved', 'break-glass', 'break-glass: granted at once, to be reviewed after');
      } else if (autoApproves(user, policy, body.role)) {
        await this.decide(c, row, 'approved', 'policy', 'approved automatically by policy');
      }
      return { id: row.id, replayed: false };
    });
    const row = await this.loadRequest(this.d.store.db, result.id);
    return { request: await this.view(this.d.store.db, row!, user), replayed: result.replayed };
  }

  private async replay(user: Principal, key: string | undefined, bodyHash: string): Promise<RequestView | null> {
    if (!key) return null;
    const prior = await this.d.store.db.selectFrom('idempotency').selectAll().where('user_name', '=', user.name).where('idem_key', '=', key).executeTakeFirst();
    if (!prior) return null;
    this.sameBody(prior, bodyHash);
    const row = await this.loadRequest(this.d.store.db, prior.request_id);
    return row ? this.view(this.d.store.db, row, user) : null;
  }

  /** The request id a replayed key stands for; a different body under the same key is refused. */
  private sameBody(prior: { body_hash: string; request_id: string }, bodyHash: string): string {
    if (prior.body_hash !== bodyHash) {
      throw new ApiError(422, 'idempotency_conflict', 'this Idempotency-Key was used for a different request; use a new key for a new request', { requestId: prior.request_id });
    }
    return prior.request_id;
  }

  /** Moves a pending request to its outcome (compare-and-set) and, when approved, acts on it. */
  private async decide(c: TxContext, row: RequestsTable, outcome: 'approved' | 'denied', by: string, comment: string | null): Promise<void> {
    const updated = await c.tx
      .updateTable('requests')
      .set({ state: outcome, decided_at: c.now, decided_by: by, decision_comment: comment })
      .where('id', '=', row.id).where('state', '=', 'pending')
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1) throw new ApiError(409, 'already_resolved', 'this request was already decided');
    const audience = await this.requestAudience(c.tx, row);
    await c.emit({
      type: outcome === 'approved' ? 'request.approved' : 'request.denied', actor: by, requestId: row.id, grantId: row.kind === 'extension' ? row.grant_id : null,
      audience: row.break_glass === 1 ? { ...audience, all: true } : audience,
      data: { kind: row.kind, by, comment, requester: row.requester, resource: row.resource, role: row.role },
    });
    if (outcome !== 'approved') return;
    if (row.kind === 'access') await this.createGrant(c, row);
    else await this.applyExtension(c, row);
  }

  async review(user: Principal, id: string, decision: 'approve' | 'deny', rawComment: string | undefined): Promise<RequestView> {
    const comment = commentOf(rawComment);
    if (decision === 'deny' && comment === null) throw new ApiError(400, 'validation_failed', 'say why you deny it: a comment is required', { field: 'comment' });
    await this.commit(async (c) => {
      const row = await this.loadRequest(c.tx, id);
      if (!row || !this.canSeeRequest(user, row)) throw notFound(`request ${id}`);
      if (row.state !== 'pending') {
        const verb = row.state === 'approved' ? 'approved' : row.state === 'denied' ? 'denied' : row.state === 'cancelled' ? 'cancelled' : 'timed out';
        const who = row.decided_by && row.state !== 'timed_out' ? ` by ${row.decided_by}` : '';
        throw new ApiError(409, 'already_resolved', `this request was already ${verb}${who}`, { state: row.state, decidedBy: row.decided_by, decidedAt: row.decided_at === null ? null : new Date(Number(row.decided_at)).toISOString() });
      }
      if (Number(row.request_expires_at) <= c.now) {
        // Its approve-by deadline passed before the sweep closed it (B11): too late to decide.
        this.onOverdue();
        throw new ApiError(409, 'already_resolved', `this request timed out at ${new Date(Number(row.request_expires_at)).toISOString()} (no decision before its approve-by deadline); the requester can ask again`, { state: 'timed_out' });
      }
      const policy = policyOf(row);
      if (!mayReview(user, row.requester, policy)) {
        if (row.requester === user.name && isApprover(user, policy)) throw new ApiError(403, 'self_review', 'you cannot review your own request; another approver must');
        throw new ApiError(403, 'not_reviewer', `you are not an approver of ${row.resource}/${row.role}`);
      }
      const prior = await c.tx.selectFrom('reviews').select('decision').where('request_id', '=', id).where('reviewer', '=', user.name).executeTakeFirst();
      if (prior) throw new ApiError(409, 'already_reviewed', `you already ${prior.decision === 'approve' ? 'approved' : 'denied'} this request`);
      await c.tx.insertInto('reviews').values({ request_id: id, reviewer: user.name, decision, comment, at: c.now }).execute();
      const reviews = await c.tx.selectFrom('reviews').select(['reviewer', 'decision']).where('request_id', '=', id).execute();
      const eligible = await this.reviewers(c.tx, policy, row.requester);
      const outcome = reviewOutcome(reviews, policy, new Set([...eligible, ...reviews.map((r) => r.reviewer)]).size);
      await c.emit({
        type: 'request.reviewed', actor: user.name, requestId: id, audience: { users: [row.requester, ...eligible] },
        data: { decision, comment, approvals: reviews.filter((r) => r.decision === 'approve').length, approvalsNeeded: policy.approvals },
      });
      if (outcome !== 'pending') await this.decide(c, row, outcome, user.name, comment);
    });
    return this.getRequest(user, id);
  }

  async cancel(user: Principal, id: string): Promise<RequestView> {
    await this.commit(async (c) => {
      const row = await this.loadRequest(c.tx, id);
      if (!row || !this.canSeeRequest(user, row)) throw notFound(`request ${id}`);
      if (row.requester !== user.name && !user.admin) throw new ApiError(403, 'forbidden', 'only the requester can cancel a request; approvers deny it instead');
      if (row.state !== 'pending') throw new ApiError(409, 'already_resolved', `this request is already ${row.state.replace('_', ' ')}; an active grant is ended with \`latch end\``, { state: row.state, decidedBy: row.decided_by });
      await this.closePending(c, row, 'cancelled', user.name, row.requester === user.name ? 'cancelled by requester' : `cancelled by ${user.name}`);
    });
    return this.getRequest(user, id);
  }

  private async closePending(c: TxContext, row: RequestsTable, state: 'cancelled' | 'timed_out', by: string | null, message: string): Promise<boolean> {
    const updated = await c.tx
      .updateTable('requests').set({ state, decided_at: c.now, decided_by: by, decision_comment: message })
      .where('id', '=', row.id).where('state', '=', 'pending').executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1) return false;
    await c.emit({
      type: state === 'cancelled' ? 'request.cancelled' : 'request.timed_out', actor: by, requestId: row.id,
      audience: await this.requestAudience(c.tx, row),
      data: { kind: row.kind, message, requester: row.requester, resource: row.resource, role: row.role },
    });
    return true;
  }

  async getRequest(user: Principal, id: string): Promise<RequestView> {
    const row = await this.loadRequest(this.d.store.db, id);
    if (!row || !this.canSeeRequest(user, row)) throw notFound(`request ${id}`);
    return this.view(this.d.store.db, row, user);
  }

  async listRequests(user: Principal, q: { scope: 'mine' | 'review' | 'all'; state?: RequestsTable['state'] | undefined; limit: number }): Promise<RequestView[]> {
    const db = this.d.store.db;
    if (q.scope === 'all' && !user.admin) throw new ApiError(403, 'forbidden', 'only admins can list all requests; use scope=mine or scope=review');
    let rows: RequestsTable[];
    let query = db.selectFrom('requests').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc');
    if (q.state) query = query.where('state', '=', q.state);
    if (q.scope === 'mine') rows = await query.where('requester', '=', user.name).limit(q.limit).execute();
    else if (q.scope === 'all') rows = await query.limit(q.limit).execute();
    else {
      // Reviewability depends on each request's policy snapshot, so filter here; bounded scan.
      rows = (await query.limit(5000).execute()).filter((r) => isApprover(user, policyOf(r)) && (r.requester !== user.name || policyOf(r).selfApproval)).slice(0, q.limit);
    }
    if (rows.length === 0) return [];
    const reviews = await db.selectFrom('reviews').selectAll().where('request_id', 'in', rows.map((r) => r.id)).orderBy('at').execute();
    return rows.map((r) => requestView(r, reviews, user));
  }

  // ---- grants ---------------------------------------------------------------------------------

  private async grantAudience(db: Db, row: Pick<GrantsTable, 'user_name' | 'policy_json' | 'break_glass'>): Promise<{ users: string[]; all?: boolean }> {
    const users = [row.user_name, ...(await this.reviewers(db, policyOf(row), row.user_name))];
    return row.break_glass === 1 ? { users, all: true } : { users };
  }

  private async createGrant(c: TxContext, req: RequestsTable): Promise<void> {
    const resource = own(this.d.config().resources, req.resource);
    if (!resource) throw new ApiError(409, 'invalid_state', `resource ${req.resource} is no longer configured; the request cannot be granted`);
    const scheduled = req.start_at !== null && req.start_at > c.now;
    const grant: GrantsTable = {
      id: newId('gr'), request_id: req.id, user_name: req.requester, resource: req.resource, role: req.role,
      connector: resource.connector, state: scheduled ? 'scheduled' : 'provisioning', end_reason: null,
      duration_ms: req.duration_ms, start_at: scheduled ? req.start_at : null, activated_at: null, expires_at: null,
      ended_at: null, failure_reason: null, extensions_used: 0, break_glass: req.break_glass, policy_json: req.policy_json,
      public_key: req.public_key, target_json: JSON.stringify(resource.config), credential_enc: null, revoke_attempts: 0,
      next_revoke_at: null, last_revoke_error: null, revoke_due_at: null,
    };
    await c.tx.insertInto('grants').values(grant).execute();
    await c.tx.updateTable('requests').set({ grant_id: grant.id }).where('id', '=', req.id).execute();
    await c.emit({
      type: scheduled ? 'grant.scheduled' : 'grant.provisioning', actor: null, requestId: req.id, grantId: grant.id,
      audience: await this.grantAudience(c.tx, grant),
      data: { user: grant.user_name, resource: grant.resource, role: grant.role, durationMs: grant.duration_ms, startAt: scheduled ? new Date(Number(req.start_at)).toISOString() : null },
    });
    if (!scheduled) c.after(() => this.provision(grant.id));
  }

  private target(row: GrantsTable, startsAt: number, expiresAt: number): GrantTarget {
    return {
      grantId: row.id, user: row.user_name, resource: row.resource, role: row.role,
      config: JSON.parse(row.target_json) as Record<string, unknown>, startsAt, expiresAt, publicKey: row.public_key,
    };
  }

  private connectorFor(row: GrantsTable): Connector {
    const connector = this.d.connectors.get(row.connector);
    if (!connector) throw new Error(`this server has no "${row.connector}" connector; check the resource's connector kind`);
    return connector;
  }

  /** Rejects after the connector timeout, first aborting `abort` so the connector lets go of what the call holds. */
  private withTimeout<T>(what: string, p: Promise<T>, abort?: AbortController): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        abort?.abort();
        reject(new Error(`${what} took longer than ${formatDuration(this.timeoutMs)}`));
      }, this.timeoutMs);
      p.then(resolve, reject).finally(() => clearTimeout(t));
    });
  }

  /** Provisions a grant on its target; the window starts at confirmed activation (B03). */
  async provision(id: string): Promise<void> {
    if (this.inflight.has(id)) return;
    this.inflight.add(id);
    try {
      const row = await this.loadGrant(this.d.store.db, id);
      if (!row || row.state !== 'provisioning') return;
      const startedAt = this.d.clock.now();
      let target = this.target(row, startedAt, startedAt + Number(row.duration_ms));
      let credential: Record<string, unknown>;
      try {
        const connector = this.connectorFor(row);
        credential = (await this.withTimeout('provisioning', connector.provision(target))).credential;
        const confirmedAt = this.d.clock.now();
        if (confirmedAt - startedAt > SLOW_PROVISION_MS) {
          target = this.target(row, confirmedAt, confirmedAt + Number(row.duration_ms));
          const moved = connector.extend ? await this.withTimeout('provisioning', connector.extend(target)) : undefined;
          if (moved) credential = moved.credential;
        }
      } catch (err) {
        await this.failProvisioning(row, err);
        return;
      }
      const sealed = this.d.sealer.seal(JSON.stringify(credential), row.id);
      await this.commit(async (c) => {
        const updated = await c.tx
          .updateTable('grants')
          .set({ state: 'active', activated_at: target.startsAt, expires_at: target.expiresAt, credential_enc: sealed })
          .where('id', '=', id).where('state', '=', 'provisioning').executeTakeFirst();
        if (Number(updated.numUpdatedRows) !== 1) return; // ended while provisioning: the revoke below takes it away
        await c.emit({
          type: 'grant.active', actor: null, requestId: row.request_id, grantId: id, audience: await this.grantAudience(c.tx, row),
          data: { user: row.user_name, resource: row.resource, role: row.role, activatedAt: new Date(target.startsAt).toISOString(), expiresAt: new Date(target.expiresAt).toISOString() },
        });
      });
    } finally {
      this.inflight.delete(id);
    }
    // If the grant was ended while its provisioning ran, or provisioning failed and left something
    // half-made, revoke now that provisioning is done.
    const after = await this.loadGrant(this.d.store.db, id);
    if (after && needsRevoke(after)) this.queueRevoke(after);
  }

  private async failProvisioning(row: GrantsTable, err: unknown): Promise<void> {
    const reason = err instanceof Error ? err.message : String(err);
    // What the grantee sees in the grant view and in the event alike (FIELD-CASES B03).
    const shown = `Access could not be provisioned (${reason})`;
    this.d.log.warn({ grant: row.id, connector: row.connector, reason }, 'provisioning failed');
    await this.commit(async (c) => {
      const updated = await c.tx
        .updateTable('grants').set({ state: 'failed', failure_reason: shown, ended_at: c.now, revoke_due_at: c.now, next_revoke_at: c.now })
        .where('id', '=', row.id).where('state', '=', 'provisioning').executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) return;
      await c.emit({
        type: 'grant.failed', actor: null, requestId: row.request_id, grantId: row.id, audience: await this.grantAudience(c.tx, row),
        data: { user: row.user_name, resource: row.resource, role: row.role, reason: shown },
      });
    });
    // Whatever half-exists on the target is taken away by a revoke (queued once provisioning has
    // let go of the grant), retried and alerted on like any other; "absent" counts as revoked.
  }

  /** Ends a grant now: by its holder (`ended_by_user`) or an admin (`revoked_by_admin`). */
  async endGrant(user: Principal, id: string): Promise<GrantView> {
    await this.commit(async (c) => {
      const row = await this.loadGrant(c.tx, id);
      if (!row || !this.canSeeGrant(user, row)) throw notFound(`grant ${id}`);
      if (row.user_name !== user.name && !user.admin) throw new ApiError(403, 'forbidden', 'only the grantee or an admin can end a grant');
      const reason: EndReason = row.user_name === user.name ? 'ended_by_user' : 'revoked_by_admin';
      await this.endNow(c, row, reason, user.name);
    });
    await this.settle(id, 10_000);
    return grantView((await this.loadGrant(this.d.store.db, id))!);
  }

  private async endNow(c: TxContext, row: GrantsTable, reason: EndReason, actor: string | null): Promise<void> {
    const audience = await this.grantAudience(c.tx, row);
    const data = { user: row.user_name, resource: row.resource, role: row.role, reason };
    switch (row.state) {
      case 'scheduled': {
        await c.tx.updateTable('grants').set({ state: 'ended', end_reason: reason, ended_at: c.now }).where('id', '=', row.id).where('state', '=', 'scheduled').execute();
        await c.emit({ type: 'grant.ended', actor, requestId: row.request_id, grantId: row.id, audience, data });
        return;
      }
      case 'provisioning':
      case 'active': {
        await c.tx
          .updateTable('grants').set({ state: 'revoking', end_reason: reason, revoke_due_at: c.now, next_revoke_at: c.now, credential_enc: null })
          .where('id', '=', row.id).where('state', '=', row.state).execute();
        if (row.credential_enc !== null) c.wiped();
        await c.emit({ type: 'grant.revoking', actor, requestId: row.request_id, grantId: row.id, audience, data });
        await this.closeExtensions(c, row.id);
        c.after(async () => this.queueRevoke(row));
        return;
      }
      case 'revoking':
      case 'ended':
      case 'failed':
        throw new ApiError(409, 'invalid_state', row.state === 'failed' ? 'this grant never became active (provisioning failed); request access again' : `this grant has already ended${row.end_reason ? ` (${row.end_reason.replaceAll('_', ' ')})` : ''}; request access again`, { state: row.state });
    }
  }

  private async closeExtensions(c: TxContext, grantId: string): Promise<void> {
    const open = await c.tx.selectFrom('requests').selectAll().where('grant_id', '=', grantId).where('kind', '=', 'extension').where('state', '=', 'pending').execute();
    for (const r of open) await this.closePending(c, r, 'cancelled', null, `${CLEANUP_NOTE} before the extension was decided`);
  }

  /** Waits until a grant's revoke settles (ended, or a failed attempt recorded), up to `ms`. */
  private async settle(id: string, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const row = await this.loadGrant(this.d.store.db, id);
      if (!row || row.state !== 'revoking' || (row.revoke_attempts > 0 && !this.inflight.has(id))) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async extendGrant(user: Principal, id: string, body: { by: string; reason?: string | undefined }, idempotencyKey?: string): Promise<{ request: RequestView; replayed: boolean }> {
    const bodyHash = createHash('sha256').update(canonical({ grant: id, ...body })).digest('hex');
    const replay = await this.replay(user, idempotencyKey, bodyHash);
    if (replay) return { request: replay, replayed: true };
    const grant = await this.loadGrant(this.d.store.db, id);
    if (!grant || !this.canSeeGrant(user, grant)) throw notFound(`grant ${id}`);
    if (grant.user_name !== user.name) throw new ApiError(403, 'forbidden', 'only the grantee can ask to extend a grant');
    if (grant.state !== 'active') throw new ApiError(409, 'invalid_state', `only an active grant can be extended; this one is ${grant.state}`, { state: grant.state });
    this.refuseIfPastEnd(grant, this.d.clock.now());
    const policy = policyOf(grant);
    const by = parseDuration(body.by);
    if (by === null) throw new ApiError(400, 'validation_failed', `"${body.by}" is not a duration; write it like 30m or 1h`, { field: 'by' });
    if (grant.extensions_used >= policy.extensions.max) {
      throw new ApiError(422, 'extension_not_allowed', policy.extensions.max === 0 ? `${grant.resource}/${grant.role} allows no extensions; request access again when this grant ends` : `all ${policy.extensions.max} extensions of this grant are used; request access again when it ends`);
    }
    const maxBy = policy.extensions.maxDuration ?? policy.maxDuration;
    const d = checkDuration(by, maxBy);
    if (!d.ok) throw new ApiError(422, d.code, `an extension can add at most ${d.max}; ask for ${d.max} or less`, { max: d.max, maxMs: maxBy });
    const reason = checkReason(body.reason, policy.reasonRequired);
    if (!reason.ok) throw new ApiError(400, reason.code, reason.message, { field: 'reason' });

    const result = await this.commit(async (c) => {
      if (idempotencyKey) {
        const again = await c.tx.selectFrom('idempotency').selectAll().where('user_name', '=', user.name).where('idem_key', '=', idempotencyKey).executeTakeFirst();
        if (again) return { id: this.sameBody(again, bodyHash), replayed: true };
      }
      const pending = await c.tx.selectFrom('requests').select('id').where('grant_id', '=', id).where('kind', '=', 'extension').where('state', '=', 'pending').executeTakeFirst();
      if (pending) throw new ApiError(409, 'already_pending', `an extension of this grant is already pending (${pending.id})`, { requestId: pending.id });
      const row: RequestsTable = {
        id: newId('req'), kind: 'extension', state: 'pending', requester: user.name, resource: grant.resource, role: grant.role,
        duration_ms: d.ms, reason: reason.reason, start_at: null, break_glass: 0, public_key: null, created_at: c.now,
        request_expires_at: Math.min(c.now + policy.approveWithin, Number(grant.expires_at)), decided_at: null, decided_by: null,
        decision_comment: null, policy_json: grant.policy_json, grant_id: id, idempotency_key: idempotencyKey ?? null,
      };
      await c.tx.insertInto('requests').values(row).execute();
      if (idempotencyKey) await c.tx.insertInto('idempotency').values({ user_name: user.name, idem_key: idempotencyKey, body_hash: bodyHash, request_id: row.id, created_at: c.now }).execute();
      await c.emit({
        type: 'request.created', actor: user.name, requestId: row.id, grantId: id, audience: await this.requestAudience(c.tx, row),
        data: { kind: 'extension', requester: user.name, resource: row.resource, role: row.role, durationMs: d.ms, reason: row.reason },
      });
      if (!policy.extensions.requireApproval || autoApproves(user, policy, grant.role)) {
        await this.decide(c, row, 'approved', 'policy', 'extension approved automatically by policy');
      }
      return { id: row.id, replayed: false };
    });
    return { request: await this.getRequest(user, result.id), replayed: result.replayed };
  }

  /** Moves `expiresAt` of the active grant; the same grant, the same credential identity. */
  private async applyExtension(c: TxContext, req: RequestsTable): Promise<void> {
    const grant = req.grant_id ? await this.loadGrant(c.tx, req.grant_id) : undefined;
    if (!grant || grant.state !== 'active' || grant.expires_at === null) throw new ApiError(409, 'invalid_state', 'the grant has already ended; nothing to extend');
    this.refuseIfPastEnd(grant, c.now);
    const expiresAt = Number(grant.expires_at) + Number(req.duration_ms);
    await c.tx.updateTable('grants').set({ expires_at: expiresAt, extensions_used: grant.extensions_used + 1 }).where('id', '=', grant.id).where('state', '=', 'active').where('expires_at', '>', c.now).execute();
    await c.emit({
      type: 'grant.extended', actor: req.decided_by ?? null, requestId: req.id, grantId: grant.id, audience: await this.grantAudience(c.tx, grant),
      data: { user: grant.user_name, resource: grant.resource, role: grant.role, byMs: Number(req.duration_ms), expiresAt: new Date(expiresAt).toISOString() },
    });
    const connector = this.d.connectors.get(grant.connector);
    if (connector?.extend) {
      const target = this.target(grant, Number(grant.activated_at), expiresAt);
      c.after(async () => {
        const moved = await this.withTimeout('extending', connector.extend!(target));
        if (!moved) return;
        const sealed = this.d.sealer.seal(JSON.stringify(moved.credential), grant.id);
        await this.d.store.write((tx) => tx.updateTable('grants').set({ credential_enc: sealed }).where('id', '=', grant.id).where('state', '=', 'active').execute());
      });
    }
  }

  /**
   * An active grant whose end has passed is ended, whether or not the sweep has revoked it yet (a
   * late timer, or the moments after a restart: FIELD-CASES B11). It is refused like an ended
   * grant, and the sweep is told to revoke it now.
   */
  private refuseIfPastEnd(row: GrantsTable, now: number): void {
    if (row.expires_at === null || Number(row.expires_at) > now) return;
    this.onOverdue();
    throw new ApiError(409, 'invalid_state', `this grant expired at ${new Date(Number(row.expires_at)).toISOString()} and is being revoked; request access again`, { state: row.state, endReason: 'expired' });
  }

  async getGrant(user: Principal, id: string): Promise<GrantView> {
    const row = await this.loadGrant(this.d.store.db, id);
    if (!row || !this.canSeeGrant(user, row)) throw notFound(`grant ${id}`);
    return grantView(row);
  }

  /**
   * Newest first by when the grant's request was made: grant ids are random, so ordering by them
   * cut an active grant out of the newest 100 behind older ended ones. The id only breaks ties.
   */
  async listGrants(user: Principal, q: { scope: 'mine' | 'all'; state?: GrantsTable['state'][] | undefined; limit: number }): Promise<GrantView[]> {
    if (q.scope === 'all' && !user.admin) throw new ApiError(403, 'forbidden', 'only admins can list all grants; use scope=mine');
    let query = this.d.store.db
      .selectFrom('grants').innerJoin('requests', 'requests.id', 'grants.request_id').selectAll('grants')
      .orderBy('requests.created_at', 'desc').orderBy('grants.id', 'desc');
    if (q.scope === 'mine') query = query.where('grants.user_name', '=', user.name);
    if (q.state) query = query.where('grants.state', 'in', q.state);
    const rows = await query.limit(q.limit).execute();
    return rows.map(grantView);
  }

  /** The credential of the caller's own active grant; nobody else can read it. */
  async credential(user: Principal, id: string): Promise<{ grantId: string; expiresAt: string; credential: Record<string, unknown> }> {
    const row = await this.loadGrant(this.d.store.db, id);
    if (!row || !this.canSeeGrant(user, row) || row.user_name !== user.name) throw notFound(`grant ${id}`);
    if (row.state !== 'active' || row.credential_enc === null || row.expires_at === null) {
      throw new ApiError(409, 'invalid_state', row.state === 'provisioning' || row.state === 'scheduled' ? `the grant is ${row.state}; its credential is ready once it is active` : 'the grant is not active; its credential is gone', { state: row.state });
    }
    this.refuseIfPastEnd(row, this.d.clock.now());
    return { grantId: id, expiresAt: new Date(Number(row.expires_at)).toISOString(), credential: JSON.parse(this.d.sealer.open(row.credential_enc, row.id)) as Record<string, unknown> };
  }

  // ---- revokes --------------------------------------------------------------------------------

  /**
   * Queues a revoke; at most MAX_CONCURRENT_REVOKES run at once and MAX_CONCURRENT_REVOKES_PER_RESOURCE
   * per resource. A stuck one holds its slot until the connector timeout frees it.
   */
  queueRevoke(grant: Pick<GrantsTable, 'id' | 'resource'>): void {
    if (this.inflight.has(grant.id) || this.revokeQueue.has(grant.id)) return;
    this.revokeQueue.set(grant.id, grant.resource);
    this.pumpRevokes();
  }

  private pumpRevokes(): void {
    for (const [id, resource] of this.revokeQueue) {
      if (this.revokesRunning >= MAX_CONCURRENT_REVOKES) return;
      const running = this.revokesByResource.get(resource) ?? 0;
      if (running >= MAX_CONCURRENT_REVOKES_PER_RESOURCE) continue; // later ones of other resources go first
      this.revokeQueue.delete(id);
      this.revokesRunning++;
      this.revokesByResource.set(resource, running + 1);
      void this.revoke(id)
        .catch((err: unknown) => this.d.log.error({ grant: id, err }, 'revoke bookkeeping failed'))
        .finally(() => {
          this.revokesRunning--;
          const left = (this.revokesByResource.get(resource) ?? 1) - 1;
          if (left === 0) this.revokesByResource.delete(resource);
          else this.revokesByResource.set(resource, left);
          this.pumpRevokes();
        });
    }
  }

  private async revoke(id: string): Promise<void> {
    if (this.inflight.has(id)) return;
    this.inflight.add(id);
    try {
      const row = await this.loadGrant(this.d.store.db, id);
      if (!row || !needsRevoke(row)) return;
      const startsAt = Number(row.activated_at ?? row.revoke_due_at ?? this.d.clock.now());
      const target = this.target(row, startsAt, Number(row.expires_at ?? row.revoke_due_at ?? startsAt));
      try {
        const abort = new AbortController();
        const result = await this.withTimeout('revoking', this.connectorFor(row).revoke(target, abort.signal), abort);
        if (row.state === 'failed') {
          // The clean-up after a failed provisioning: the grant stays failed, nothing is left
          // behind; audited, and it tells approvers whose tray showed the failing clean-up.
          await this.commit(async (c) => {
            const updated = await c.tx.updateTable('grants').set({ next_revoke_at: null, last_revoke_error: null }).where('id', '=', id).where('state', '=', 'failed').executeTakeFirst();
            if (Number(updated.numUpdatedRows) !== 1) return;
            await c.emit({
              type: 'grant.cleaned_up', actor: null, requestId: row.request_id, grantId: id, audience: await this.grantAudience(c.tx, row),
              data: { user: row.user_name, resource: row.resource, role: row.role, attempts: row.revoke_attempts + 1, ...(result.audit ?? {}) },
            });
          });
          this.d.log.info({ grant: id, attempts: row.revoke_attempts + 1, ...(result.audit ?? {}) }, 'cleaned up after failed provisioning');
          return;
        }
        await this.commit(async (c) => {
          const updated = await c.tx
            .updateTable('grants').set({ state: 'ended', ended_at: c.now, next_revoke_at: null, credential_enc: null })
            .where('id', '=', id).where('state', '=', 'revoking').executeTakeFirst();
          if (Number(updated.numUpdatedRows) !== 1) return;
          const lateBy = Math.max(0, c.now - Number(row.revoke_due_at ?? c.now));
          await c.emit({
            type: 'grant.ended', actor: null, requestId: row.request_id, grantId: id, audience: await this.grantAudience(c.tx, row),
            data: {
              user: row.user_name, resource: row.resource, role: row.role, reason: row.end_reason, attempts: row.revoke_attempts + 1,
              ...(lateBy >= 1000 ? { late_by: formatDuration(lateBy), lateByMs: lateBy } : {}), ...(result.audit ?? {}),
            },
          });
        });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const attempts = row.revoke_attempts + 1;
        const delay = Math.min(this.backoff.firstMs * 2 ** Math.min(attempts - 1, 20), this.backoff.maxMs);
        this.d.log.warn({ grant: id, connector: row.connector, attempts, error: message }, 'revoke failed; will retry');
        await this.commit(async (c) => {
          await c.tx.updateTable('grants').set({ revoke_attempts: attempts, next_revoke_at: c.now + delay, last_revoke_error: message }).where('id', '=', id).where('state', '=', row.state).execute();
          await c.emit({
            type: 'grant.revoke_failed', actor: null, requestId: row.request_id, grantId: id, audience: await this.grantAudience(c.tx, row),
            data: { user: row.user_name, resource: row.resource, role: row.role, error: message, attempts, nextRetryAt: new Date(c.now + delay).toISOString() },
          });
        });
      }
    } finally {
      this.inflight.delete(id);
    }
  }

  // ---- what the scheduler drives --------------------------------------------------------------

  /** The earliest time anything is due, or null when nothing is. */
  async nextDueAt(): Promise<number | null> {
    const db = this.d.store.db;
    const [req, sched, act, rev] = await Promise.all([
      db.selectFrom('requests').select((eb) => eb.fn.min('request_expires_at').as('at')).where('state', '=', 'pending').executeTakeFirst(),
      db.selectFrom('grants').select((eb) => eb.fn.min('start_at').as('at')).where('state', '=', 'scheduled').executeTakeFirst(),
      db.selectFrom('grants').select((eb) => eb.fn.min('expires_at').as('at')).where('state', '=', 'active').executeTakeFirst(),
      db.selectFrom('grants').select((eb) => eb.fn.min('next_revoke_at').as('at')).where('state', 'in', ['revoking', 'failed']).executeTakeFirst(),
    ]);
    const times = [req?.at, sched?.at, act?.at, rev?.at].filter((t): t is number => t !== null && t !== undefined).map(Number);
    return times.length === 0 ? null : Math.min(...times);
  }

  /** Handles everything due now: timeouts, activations, expiries and revoke retries. Returns how many. */
  async runDue(): Promise<number> {
    const now = this.d.clock.now();
    let handled = await this.advanceDue(now, (row) => this.queueRevoke(row));
    for (const row of await this.d.store.db.selectFrom('grants').select(['id', 'resource']).where('state', 'in', ['revoking', 'failed']).where('next_revoke_at', '<=', now).limit(1000).execute()) {
      this.queueRevoke(row);
      handled++;
    }
    return handled;
  }

  /**
   * On start, before the API answers: every overdue request is timed out, every overdue scheduled
   * grant sent to provisioning and every expired grant marked revoking with its credential wiped,
   * so nothing overdue is ever served (B11). The connector revokes, the slow part, are left to the
   * scheduler's first sweep, which runs while the API answers (B07).
   */
  async expireOverdue(): Promise<number> {
    const now = this.d.clock.now();
    let total = 0;
    // Each pass takes up to 1000 of a kind; what it handled is no longer selected by the next.
    for (;;) {
      const n = await this.advanceDue(now, () => undefined);
      if (n === 0) return total;
      total += n;
    }
  }

  /** The state changes of everything due at `now`; `revoking` is told of each grant that expired. */
  private async advanceDue(now: number, revoking: (grant: Pick<GrantsTable, 'id' | 'resource'>) => void): Promise<number> {
    const db = this.d.store.db;
    let handled = 0;
    // Let HTTP requests in between items, so a large sweep at start never starves the API (B07).
    const yieldToIo = () => new Promise((r) => setImmediate(r));

    for (const row of await db.selectFrom('requests').selectAll().where('state', '=', 'pending').where('request_expires_at', '<=', now).limit(1000).execute()) {
      await this.commit((c) => this.closePending(c, row, 'timed_out', null, 'expired: no decision before the approve-by deadline'));
      handled++;
      await yieldToIo();
    }
    for (const row of await db.selectFrom('grants').selectAll().where('state', '=', 'scheduled').where('start_at', '<=', now).limit(1000).execute()) {
      await this.commit(async (c) => {
        const updated = await c.tx.updateTable('grants').set({ state: 'provisioning' }).where('id', '=', row.id).where('state', '=', 'scheduled').executeTakeFirst();
        if (Number(updated.numUpdatedRows) !== 1) return;
        await c.emit({ type: 'grant.provisioning', actor: null, requestId: row.request_id, grantId: row.id, audience: await this.grantAudience(c.tx, row), data: { user: row.user_name, resource: row.resource, role: row.role } });
        c.after(() => this.provision(row.id));
      });
      handled++;
      await yieldToIo();
    }
    for (const row of await db.selectFrom('grants').selectAll().where('state', '=', 'active').where('expires_at', '<=', now).limit(1000).execute()) {
      await this.commit(async (c) => {
        const updated = await c.tx
          .updateTable('grants').set({ state: 'revoking', end_reason: 'expired', revoke_due_at: row.expires_at, next_revoke_at: c.now, credential_enc: null })
          .where('id', '=', row.id).where('state', '=', 'active').where('expires_at', '<=', now).executeTakeFirst();
        if (Number(updated.numUpdatedRows) !== 1) return;
        if (row.credential_enc !== null) c.wiped();
        await c.emit({ type: 'grant.revoking', actor: null, requestId: row.request_id, grantId: row.id, audience: await this.grantAudience(c.tx, row), data: { user: row.user_name, resource: row.resource, role: row.role, reason: 'expired' } });
        await this.closeExtensions(c, row.id);
      });
      revoking(row);
      handled++;
      await yieldToIo();
    }
    return handled;
  }

  /** On start: resume provisioning that a stop interrupted. */
  async resume(): Promise<void> {
    for (const row of await this.d.store.db.selectFrom('grants').select('id').where('state', '=', 'provisioning').execute()) void this.provision(row.id);
  }

  /** Seconds the oldest overdue live grant is past its end (0 when the sweeper keeps up; B11). */
  async oldestOverdueSeconds(): Promise<number> {
    const now = this.d.clock.now();
    const db = this.d.store.db;
    const active = await db.selectFrom('grants').select((eb) => eb.fn.min('expires_at').as('at')).where('state', '=', 'active').where('expires_at', '<', now).executeTakeFirst();
    const revoking = await db.selectFrom('grants').select((eb) => eb.fn.min('revoke_due_at').as('at')).where('state', '=', 'revoking').executeTakeFirst();
    const times = [active?.at, revoking?.at].filter((t): t is number => t !== null && t !== undefined).map(Number);
    return times.length === 0 ? 0 : Math.max(0, (now - Math.min(...times)) / 1000);
  }

  /** Waits for connector work this process started (provisioning and revokes) on shutdown. */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while ((this.inflight.size > 0 || this.revokeQueue.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}
