/**
 * The typed client of the approval server, one method per task of the contract (src/shared/api.ts).
 *
 * - Every answer is validated with the contract's response schema; a malformed answer is a
 *   ProtocolError, never trusted.
 * - Access tokens are refreshed proactively (near expiry by the server's clock) and on a 401, with
 *   one refresh in flight for all callers, because refresh tokens rotate on every use and a second
 *   refresh with the old one signs the device out (FIELD-CASES B41).
 * - Every POST carries an Idempotency-Key (one UUID per logical call, reused by its retries);
 *   network failures, timeouts and 5xx are retried with capped backoff, at most `retry.attempts`.
 * - The server clock offset is measured from each answer's `Date` header (server-clock.ts).
 *
 * Create one LatchClient per server per process and share it (the event stream included): two
 * instances would each rotate the refresh token.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance } from 'axios';
import type { z } from 'zod';
import {
  errorBodySchema, routes,
  type CreateRequestBody, type GrantView, type RequestView, type ResourceView, type RouteName, type RouteResult, type UserView,
  type extendBody, type grantListQuery, type requestListQuery,
} from '../shared/api.js';
import type { Clock } from '../shared/clock.js';
import { backoffDelay, sleep, type Backoff } from './backoff.js';
import { credentialFrom, type CredentialSource, type DeviceCredential } from './credentials.js';
import { ApiError, OfflineError, ProtocolError, SignedOutError } from './errors.js';
import { ServerClockOffset } from './server-clock.js';

export type RequestListQuery = z.input<typeof requestListQuery>;
export type GrantListQuery = z.input<typeof grantListQuery>;
export type ExtendGrantBody = z.input<typeof extendBody>;
export type GrantCredential = RouteResult<'credential'>;
export interface EnrollResult { user: UserView; device: { id: string; name: string } }

export interface RetryOptions extends Backoff {
  /** Attempts per logical call, the first included. */
  attempts: number;
}

export interface LatchClientOptions {
  /** `https://latch.example.com` (a trailing slash is ignored). */
  baseUrl: string;
  credentials: CredentialSource;
  clock: Clock;
  /** Called once when the server refuses this device's refresh token (it was signed out elsewhere or copied). */
  onSignedOut?(): void;
  /** How long one attempt may take before it counts as a network failure (default 20 s). */
  timeoutMs?: number;
  /** Default: 3 attempts, waits 250 ms then 500 ms (jittered), capped at 2 s. */
  retry?: RetryOptions;
  /** Jitter source (tests). */
  random?: () => number;
}

/** The proactive refresh happens this long before expiry (half the lifetime for tokens shorter than 2 min). */
export const REFRESH_MARGIN_MS = 60_000;
export const DEFAULT_TIMEOUT_MS = 20_000;
export const DEFAULT_RETRY: RetryOptions = { attempts: 3, firstMs: 250, maxMs: 2_000 };

/** Socket errors that mean the request never reached the server, so even a one-shot POST may be resent. */
const NOT_DELIVERED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const RETRY_STATUSES = new Set([500, 502, 503, 504]);
/** 401 codes a new access token can cure; anything else is the caller's problem. */
const RENEWABLE = new Set(['token_expired', 'unauthorized']);

type AnyRoute = (typeof routes)[RouteName];
interface CallInput {
  params?: Record<string, string>;
  query?: Record<string, unknown>;
  body?: unknown;
}
interface Answer {
  status: number;
  json: unknown;
  /** An earlier attempt of this call may have been carried out by the server (its answer was lost). */
  maybeLanded: boolean;
}
type Attempt = { ok: true; status: number; json: unknown } | { ok: false; reason: string; delivered: boolean };

export class LatchClient {
  readonly baseUrl: string;
  private readonly http: AxiosInstance;
  private readonly agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  private readonly serverClock = new ServerClockOffset();
  private readonly timeoutMs: number;
  private readonly retry: RetryOptions;
  private readonly random: () => number;

  /** The credential in use (loaded once from the source, then kept up to date here). */
  private held: DeviceCredential | null = null;
  private loading: Promise<void> | null = null;
  /** Bumped by enroll and sign-out, so a slow load cannot bring back a credential they replaced. */
  private generation = 0;
  private refreshing: Promise<DeviceCredential> | null = null;
  private signingOut: Promise<void> | null = null;
  private readonly signOutListeners = new Set<() => void>();

  constructor(private readonly opts: LatchClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.random = opts.random ?? Math.random;
    this.http = axios.create({
      baseURL: this.baseUrl,
      httpAgent: this.agents.http,
      httpsAgent: this.agents.https,
      maxRedirects: 0,
      // Straight to the server, like the event stream (events.ts): HTTP(S)_PROXY is not honoured by either.
      proxy: false,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      validateStatus: () => true,
    });
  }

  // ---- tasks ----------------------------------------------------------------------------------

  /** Exchanges a one-time enrollment code for this device's credential, and saves it. */
  async enroll(code: string, deviceName?: string): Promise<EnrollResult> {
    const body = deviceName === undefined ? { code } : { code, device: deviceName };
    // The code works once: resend only what never reached the server.
    const res = await this.send(routes.enroll, { body }, randomUUID(), null, true);
    if (res.status >= 400) throw this.failure(routes.enroll, res.status, res.json);
    const tokens = this.validate(routes.enroll, res.json);
    const credential = credentialFrom(this.baseUrl, tokens, this.serverNow());
    this.generation++;
    this.held = credential;
    this.signingOut = null;
    await this.opts.credentials.save(credential);
    return { user: tokens.user, device: tokens.device };
  }

  me(): Promise<UserView> {
    return this.call('me', {});
  }

  async resources(): Promise<ResourceView[]> {
    return (await this.call('resources', {})).items;
  }

  createRequest(body: CreateRequestBody): Promise<RequestView> {
    return this.call('createRequest', { body });
  }

  async listRequests(query: RequestListQuery = {}): Promise<RequestView[]> {
    return (await this.call('listRequests', { query })).items;
  }

  getRequest(id: string): Promise<RequestView> {
    return this.call('getRequest', { params: { id } });
  }

  approve(id: string, comment?: string): Promise<RequestView> {
    return this.review('approve', id, comment);
  }

  deny(id: string, comment: string): Promise<RequestView> {
    return this.review('deny', id, comment);
  }

  cancel(id: string): Promise<RequestView> {
    return this.call('cancel', { params: { id }, body: {} }, async (err, me) => {
      if (err.code !== 'already_resolved') return null;
      const request = await this.getRequest(id);
      return request.state === 'cancelled' && request.decidedBy === me ? request : null;
    });
  }

  async listGrants(query: GrantListQuery = {}): Promise<GrantView[]> {
    return (await this.call('listGrants', { query })).items;
  }

  getGrant(id: string): Promise<GrantView> {
    return this.call('getGrant', { params: { id } });
  }

  /** The secret of my active grant. Keep it out of logs and away from the renderer. */
  credential(id: string): Promise<GrantCredential> {
    return this.call('credential', { params: { id } });
  }

  endGrant(id: string): Promise<GrantView> {
    return this.call('endGrant', { params: { id }, body: {} }, async (err, me) => {
      if (err.code !== 'invalid_state') return null;
      const grant = await this.getGrant(id);
      const ours = grant.endReason === (grant.user === me ? 'ended_by_user' : 'revoked_by_admin');
      return (grant.state === 'revoking' || grant.state === 'ended') && ours ? grant : null;
    });
  }

  extendGrant(id: string, body: ExtendGrantBody): Promise<RequestView> {
    return this.call('extendGrant', { params: { id }, body });
  }

  /**
   * Signs this device out on the server and forgets its credential here, whatever the server
   * says. `revokedOnServer` is false when the server could not be told (its refresh token then
   * stays valid there until an admin removes the device). Does not call `onSignedOut`.
   */
  async signOut(): Promise<{ revokedOnServer: boolean }> {
    let revokedOnServer = false;
    try {
      await this.call('signOut', { body: {} });
      revokedOnServer = true;
    } catch (err) {
      // Refused as signed out: the server no longer accepts this device, which is the point.
      if (err instanceof SignedOutError) revokedOnServer = true;
      else if (!(err instanceof ApiError || err instanceof OfflineError)) throw err;
    } finally {
      this.generation++;
      this.held = null;
      this.notifySignOut();
      await this.opts.credentials.clear();
    }
    return { revokedOnServer };
  }

  /**
   * Any sign-out, asked for (signOut()) or imposed (refresh refused). The event stream listens, as
   * the server does not end a stream that is already open when its device is signed out.
   */
  onSignOut(cb: () => void): () => void {
    this.signOutListeners.add(cb);
    return () => void this.signOutListeners.delete(cb);
  }

  // ---- server time ----------------------------------------------------------------------------

  /** The server's current time (ms since the epoch): the local clock plus the measured offset. */
  serverNow(): number {
    return this.opts.clock.now() + this.serverClock.offsetMs;
  }

  /** Server time minus local time, measured from `Date` headers (0 before the first answer). */
  get clockOffsetMs(): number {
    return this.serverClock.offsetMs;
  }

  /** Feeds one `Date` header into the offset (the event stream's answers count too). */
  observeServerDate(dateHeader: string | undefined, sentAt: number, receivedAt: number): void {
    this.serverClock.observe(dateHeader, sentAt, receivedAt);
  }

  // ---- tokens ---------------------------------------------------------------------------------

  /** Who this device is signed in as, or null when it is not enrolled. */
  async signedInAs(): Promise<{ user: string; deviceId: string; deviceName: string } | null> {
    await this.load();
    const c = this.held;
    return c ? { user: c.user, deviceId: c.deviceId, deviceName: c.deviceName } : null;
  }

  /**
   * A current access token, refreshed first when it is due (for the event stream, which opens its
   * own connection). Rejects with SignedOutError when the device is signed out. Never log it.
   */
  async accessToken(): Promise<string> {
    return (await this.usable()).accessToken;
  }

  /**
   * The server refused `rejected` with a 401: refresh it, once for every caller that saw it
   * (single flight). Resolves when a newer token is in place; rejects with SignedOutError when
   * the refresh was refused, or OfflineError when the server could not be reached.
   */
  async renewAccess(rejected: string): Promise<void> {
    await this.load();
    const c = this.held;
    if (!c) throw new SignedOutError(this.baseUrl);
    await this.renew(c.accessToken === rejected ? c : { ...c, accessToken: rejected });
  }

  /** Refreshes the access token now (joining a refresh already in flight), e.g. from a timer or on resume. */
  async refreshAccess(): Promise<void> {
    await this.load();
    const c = this.held;
    if (!c) throw new SignedOutError(this.baseUrl);
    await this.renew(c);
  }

  /** Closes idle keep-alive connections (shutdown). */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private async load(): Promise<void> {
    if (!this.loading) {
      const generation = this.generation;
      this.loading = this.opts.credentials.load().then(
        (c) => {
          if (this.generation !== generation) return;
          // A credential of another server is never sent here.
          this.held = c && c.server.replace(/\/+$/, '') === this.baseUrl ? c : null;
        },
        (err: unknown) => {
          this.loading = null;
          throw err;
        },
      );
    }
    await this.loading;
  }

  /** The credential to send now: after any refresh in flight, and refreshed first when due. */
  private async usable(): Promise<DeviceCredential> {
    await this.load();
    const c = this.held;
    if (!c) throw new SignedOutError(this.baseUrl);
    const expiresAt = Date.parse(c.accessExpiresAt);
    const margin = Math.min(REFRESH_MARGIN_MS, c.accessTtlMs / 2);
    if (!this.refreshing && this.serverNow() < expiresAt - margin) return c;
    try {
      return await this.renew(c);
    } catch (err) {
      // An early refresh that failed for a passing reason (offline, a 5xx) leaves a token that still works.
      if (err instanceof SignedOutError || this.held !== c || this.serverNow() >= expiresAt) throw err;
      return c;
    }
  }

  /**
   * The single flight: `stale` is the credential whose access token was found expired. If a newer
   * one is already in place it is used as is; otherwise every caller shares one rotation.
   */
  private renew(stale: DeviceCredential): Promise<DeviceCredential> {
    const current = this.held;
    if (!current) return Promise.reject(new SignedOutError(this.baseUrl));
    if (this.refreshing) return this.refreshing;
    if (current.accessToken !== stale.accessToken) return Promise.resolve(current);
    const flight = this.rotate(current).finally(() => {
      if (this.refreshing === flight) this.refreshing = null;
    });
    this.refreshing = flight;
    return flight;
  }

  private async rotate(c: DeviceCredential): Promise<DeviceCredential> {
    const generation = this.generation;
    // A refresh whose answer was lost has already rotated the token on the server; presenting the
    // old one again would sign the device out (tokens.ts), so only undelivered attempts are resent.
    const res = await this.send(routes.refresh, { body: { refreshToken: c.refreshToken } }, randomUUID(), null, true);
    if (this.generation !== generation) {
      // Enrolled again or signed out while this was in flight: that outcome stands.
      if (this.held) return this.held;
      throw new SignedOutError(this.baseUrl);
    }
    if (res.status === 401) {
      const refused = this.failure(routes.refresh, res.status, res.json);
      await this.signOutLocally();
      throw new SignedOutError(this.baseUrl, { cause: refused });
    }
    if (res.status >= 400) throw this.failure(routes.refresh, res.status, res.json);
    const next = credentialFrom(this.baseUrl, this.validate(routes.refresh, res.json), this.serverNow());
    this.held = next;
    await this.opts.credentials.save(next);
    return next;
  }

  /** One sign-out for however many callers found the refresh refused. */
  private signOutLocally(): Promise<void> {
    this.generation++;
    this.held = null;
    if (!this.signingOut) this.notifySignOut();
    this.signingOut ??= (async () => {
      try {
        await this.opts.credentials.clear();
      } finally {
        this.opts.onSignedOut?.();
      }
    })();
    return this.signingOut;
  }

  private notifySignOut(): void {
    for (const cb of [...this.signOutListeners]) {
      try {
        cb();
      } catch {
        // A listener's failure must not stop the sign-out.
      }
    }
  }

  // ---- calls ----------------------------------------------------------------------------------

  private review(decision: 'approve' | 'deny', id: string, comment: string | undefined): Promise<RequestView> {
    return this.call(decision, { params: { id }, body: comment === undefined ? {} : { comment } }, async (err, me) => {
      if (err.code !== 'already_reviewed' && err.code !== 'already_resolved') return null;
      const request = await this.getRequest(id);
      return request.reviews.some((r) => r.reviewer === me && r.decision === decision) ? request : null;
    });
  }

  /**
   * One logical call: a fresh token, the request with its retries, one renewal and resend on a
   * 401, and the answer validated. `landed` reconciles a 409 on a route the server does not
   * dedupe by Idempotency-Key: when a retry is refused because the lost first attempt already
   * did the job, it returns the resulting state instead of the conflict.
   */
  private async call<N extends RouteName>(name: N, input: CallInput, landed?: (err: ApiError, me: string) => Promise<RouteResult<N> | null>): Promise<RouteResult<N>> {
    const route: AnyRoute = routes[name];
    const key = route.method === 'POST' ? randomUUID() : null;
    let credential = await this.usable();
    let res = await this.send(route, input, key, credential.accessToken, false);
    if (res.status === 401 && RENEWABLE.has(errorCode(res.json) ?? '')) {
      credential = await this.renew(credential);
      const again = await this.send(route, input, key, credential.accessToken, false);
      res = { ...again, maybeLanded: res.maybeLanded || again.maybeLanded };
    }
    if (res.status >= 400) {
      const err = this.failure(route, res.status, res.json);
      if (err instanceof ApiError && err.status === 409 && res.maybeLanded && landed) {
        const outcome = await landed(err, credential.user);
        if (outcome !== null) return outcome;
      }
      throw err;
    }
    return this.validate(route, res.json) as RouteResult<N>;
  }

  /** Sends with retries; resolves with the last answer, or rejects with OfflineError. */
  private async send(route: AnyRoute, input: CallInput, key: string | null, token: string | null, onlyUndelivered: boolean): Promise<Answer> {
    let maybeLanded = false;
    for (let attempt = 1; ; attempt++) {
      const a = await this.attempt(route, input, key, token);
      const retryable = a.ok ? RETRY_STATUSES.has(a.status) : onlyUndelivered ? !a.delivered : true;
      if (!retryable || attempt >= this.retry.attempts || (onlyUndelivered && a.ok)) {
        if (!a.ok) throw new OfflineError(this.baseUrl, a.reason);
        return { status: a.status, json: a.json, maybeLanded };
      }
      maybeLanded ||= a.ok || a.delivered;
      await sleep(this.opts.clock, backoffDelay(attempt - 1, this.retry, this.random));
    }
  }

  private async attempt(route: AnyRoute, input: CallInput, key: string | null, token: string | null): Promise<Attempt> {
    const path = route.path.replace(/:(\w+)/g, (_, p: string) => encodeURIComponent(input.params?.[p] ?? ''));
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(input.query ?? {})) if (v !== undefined) query.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (key !== null) headers['idempotency-key'] = key;
    if (route.method === 'POST') headers['content-type'] = 'application/json';

    const controller = new AbortController();
    let timedOut = false;
    const timer = this.opts.clock.setTimer(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    const sentAt = this.opts.clock.now();
    try {
      const res = await this.http.request<string>({
        method: route.method,
        url: query.size > 0 ? `${path}?${query}` : path,
        headers,
        data: route.method === 'POST' ? JSON.stringify(input.body ?? {}) : undefined,
        signal: controller.signal,
      });
      this.serverClock.observe(typeof res.headers.date === 'string' ? res.headers.date : undefined, sentAt, this.opts.clock.now());
      return { ok: true, status: res.status, json: parseJson(res.data) };
    } catch (err) {
      if (timedOut) return { ok: false, reason: `no answer within ${this.timeoutMs} ms`, delivered: true };
      const code = (err as { code?: unknown }).code;
      const reason = typeof code === 'string' ? code : String((err as Error).message ?? err);
      return { ok: false, reason, delivered: !NOT_DELIVERED.has(reason) };
    } finally {
      this.opts.clock.clearTimer(timer);
    }
  }

  private failure(route: AnyRoute, status: number, json: unknown): Error {
    const parsed = errorBodySchema.safeParse(json);
    if (parsed.success) {
      const { code, message, ...details } = parsed.data.error;
      return new ApiError(status, code, message, details);
    }
    // A proxy in front of the server answering for it: the server itself is out of reach.
    if (status === 502 || status === 503 || status === 504) return new OfflineError(this.baseUrl, `a proxy answered HTTP ${status}`);
    return new ProtocolError(this.baseUrl, `answered ${route.method} ${route.path} with HTTP ${status} and no Latch error`);
  }

  private validate<R extends AnyRoute>(route: R, json: unknown): z.infer<R['response']> {
    const parsed = route.response.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? ` (field "${issue.path.join('.')}": ${issue.message})` : '';
      throw new ProtocolError(this.baseUrl, `answered ${route.method} ${route.path} with something that does not match the contract${where}`);
    }
    return parsed.data as z.infer<R['response']>;
  }
}

function parseJson(text: string | undefined): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function errorCode(json: unknown): string | null {
  const parsed = errorBodySchema.safeParse(json);
  return parsed.success ? parsed.data.error.code : null;
}
