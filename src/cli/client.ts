/**
 * The CLI's HTTP client, typed from the shared route table (STYLE.md §1): bearer token, one refresh
 * on `token_expired` (rotating the stored refresh token), an Idempotency-Key on every POST, and
 * every failure turned into a one-line CliError that says what to do.
 */
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { errorBodySchema, routes, type ErrorCode, type RouteBody, type RouteName, type RouteResult, type TokenResponse } from '../shared/api.js';
import { CliError } from './errors.js';
import type { CredentialStore, DeviceCredential } from './credentials.js';

type Route<N extends RouteName> = (typeof routes)[N];
type ParamsOf<N extends RouteName> = Route<N> extends { params: infer P extends z.ZodType } ? z.input<P> : never;
type QueryOf<N extends RouteName> = Route<N> extends { query: infer Q extends z.ZodType } ? Partial<z.input<Q>> : never;

export interface CallInput<N extends RouteName> {
  params?: ParamsOf<N>;
  query?: QueryOf<N>;
  body?: RouteBody<N>;
}

/** An error answer from the server: its message is already written for a person. */
export class ApiCallError extends CliError {
  constructor(message: string, readonly status: number, readonly code: ErrorCode | null, readonly details: Record<string, unknown> = {}) {
    super(message);
  }
}

export const CALL_TIMEOUT_MS = 30_000;

export const NOT_LOGGED_IN = 'not logged in; run `latch login --server URL --code CODE` with an enrollment code from your admin';

/** `http://host:port` without a trailing slash, so one server has one credential entry. */
export function normalizeServer(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`--server ${url} is not a URL; give it like http://127.0.0.1:7300`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliError(`--server ${url} must be an http:// or https:// URL`);
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

export function credentialFrom(server: string, t: TokenResponse, now = Date.now()): DeviceCredential {
  return { server, accessToken: t.accessToken, refreshToken: t.refreshToken, accessExpiresAt: new Date(now + t.expiresIn * 1000).toISOString(), user: t.user.name, deviceId: t.device.id };
}

interface Session {
  credential: DeviceCredential;
  store: CredentialStore;
  /** Lines for stderr (e.g. the keychain stopped answering and the refreshed credential went to the file). */
  note(line: string): void;
}

export class LatchClient {
  constructor(readonly server: string, private readonly session: Session | null = null) {}

  get user(): string | null {
    return this.session?.credential.user ?? null;
  }

  get deviceId(): string | null {
    return this.session?.credential.deviceId ?? null;
  }

  async call<N extends RouteName>(name: N, input: CallInput<N> = {}): Promise<RouteResult<N>> {
    const route: Route<RouteName> = routes[name];
    // One key per logical call, reused by the retry after a refresh so the server dedupes it.
    const idempotencyKey = route.method === 'POST' ? randomUUID() : undefined;
    let answer = await this.send(name, input, idempotencyKey);
    if (answer.status === 401 && this.session && errorOf(answer.json)?.code === 'token_expired') {
      await this.refresh();
      answer = await this.send(name, input, idempotencyKey);
    }
    if (answer.status >= 400) throw this.failure(answer.status, answer.json);
    const parsed = route.response.safeParse(answer.json);
    if (!parsed.success) throw new CliError(`the server at ${this.server} answered ${route.method} ${route.path} with something this latch does not understand; is it a Latch server of the same version?`);
    return parsed.data as RouteResult<N>;
  }

  private async send(name: RouteName, input: CallInput<RouteName>, idempotencyKey: string | undefined): Promise<{ status: number; json: unknown }> {
    const route: Route<RouteName> = routes[name];
    const params = (input.params ?? {}) as Record<string, string>;
    const path = route.path.replace(/:(\w+)/g, (_, key: string) => encodeURIComponent(params[key] ?? ''));
    const query = new URLSearchParams(Object.entries(input.query ?? {}).filter(([, v]) => v !== undefined).map(([k, v]): [string, string] => [k, String(v)]));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (route.auth !== 'none') {
      if (!this.session) throw new CliError(NOT_LOGGED_IN);
      headers.authorization = `Bearer ${this.session.credential.accessToken}`;
    }
    if (route.method === 'POST') headers['content-type'] = 'application/json';
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}${query.size > 0 ? `?${query}` : ''}`, {
        method: route.method,
        headers,
        body: route.method === 'POST' ? JSON.stringify(input.body ?? {}) : undefined,
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
    } catch (err) {
      throw unreachable(this.server, err);
    }
    const text = await res.text().catch(() => '');
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: res.status, json };
  }

  private failure(status: number, json: unknown): CliError {
    const error = errorOf(json);
    if (!error) return new ApiCallError(`the server at ${this.server} answered HTTP ${status} without a Latch error; check --server points at a Latch server`, status, null);
    const { code, message, ...details } = error;
    const hint = code === 'unauthorized' || code === 'refresh_invalid' ? ` (\`latch login --server ${this.server} --code CODE\`)` : '';
    return new ApiCallError(`${message}${hint}`, status, code, details);
  }

  /** Rotates the refresh token, taking turns with other latch processes of this LATCH_HOME. */
  private async refresh(): Promise<void> {
    const session = this.session!;
    await session.store.withRefreshLock(async () => {
      const stored = await session.store.load(this.server);
      if (stored && stored.refreshToken !== session.credential.refreshToken) {
        // Another command refreshed while we waited: its tokens are the live ones.
        session.credential = stored;
        return;
      }
      const before = session.store.whereIs(this.server);
      const tokens = await new LatchClient(this.server).call('refresh', { body: { refreshToken: session.credential.refreshToken } });
      session.credential = credentialFrom(this.server, tokens);
      const saved = await session.store.save(session.credential);
      if (saved.where !== before) session.note(saved.message);
    });
  }
}

/** A client signed in as the stored credential of `server` (default: the current server). */
export async function signedIn(store: CredentialStore, server?: string): Promise<LatchClient> {
  const target = server === undefined ? store.currentServer() : normalizeServer(server);
  const credential = await store.load(target);
  if (!credential) throw new CliError(server === undefined ? NOT_LOGGED_IN : `not logged in to ${target}; run \`latch login --server ${target} --code CODE\``);
  return new LatchClient(credential.server, { credential, store, note: (line) => process.stderr.write(`latch: ${line}\n`) });
}

/**
 * Wraps an action: a keychain call that timed out may leave a native call pending that keeps
 * Node alive after the command is done, so such a process exits explicitly.
 */
export function action<A extends unknown[]>(store: CredentialStore, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    await fn(...args);
    if (store.hung) process.exit(process.exitCode ?? 0);
  };
}

function errorOf(json: unknown): z.infer<typeof errorBodySchema>['error'] | null {
  const parsed = errorBodySchema.safeParse(json);
  return parsed.success ? parsed.data.error : null;
}

function unreachable(server: string, err: unknown): CliError {
  const e = err as { name?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError') return new CliError(`the Latch server at ${server} did not answer within ${CALL_TIMEOUT_MS / 1000} s; try again, or check that it is healthy`);
  const code = e.cause?.code;
  const why = code && code !== 'ECONNREFUSED' ? ` (${code})` : '';
  return new CliError(`cannot reach the Latch server at ${server}${why}; is it running? (\`latch serve\`)`);
}
