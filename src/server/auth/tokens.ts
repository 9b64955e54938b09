/**
 * Device credentials: a short-lived access token (JWT, HS256 with the server's secret) and a
 * refresh token that rotates on every use and is stored only as a hash. Presenting a refresh token
 * that was already rotated away signs the device out (the token was copied).
 */
import { randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { TokenResponse } from '../../shared/api.js';
import type { Store } from '../store/open.js';
import { appendEvent, type StoredEvent } from '../events/log.js';
import { ApiError } from '../http/errors.js';
import { loadPrincipal, newId, normalizeCode, sha256 } from './identity.js';

export const ACCESS_TTL_S = 15 * 60;
/** How long after a rotation the token before it is honoured once more (the answer was lost). */
export const REFRESH_GRACE_MS = 10_000;
const ISSUER = 'latch';

export class Tokens {
  constructor(
    private readonly store: Store,
    private readonly secret: Uint8Array,
    private readonly now: () => number,
    private readonly accessTtlS = ACCESS_TTL_S,
  ) {}

  /** Called when a device is signed out (its open event streams are closed). */
  onDeviceRevoked: (deviceId: string) => void = () => undefined;

  private async accessToken(user: string, device: string): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ dev: device }).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setSubject(user).setIssuedAt(iat).setExpirationTime(iat + this.accessTtlS).sign(this.secret);
  }

  private async respond(user: string, device: { id: string; name: string }, refreshToken: string): Promise<TokenResponse> {
    const principal = await loadPrincipal(this.store.db, user);
    if (!principal) throw new ApiError(401, 'unauthorized', 'this user no longer exists; ask an admin for a new enrollment code');
    return { accessToken: await this.accessToken(user, device.id), refreshToken, expiresIn: this.accessTtlS, user: { name: principal.name, groups: [...principal.groups], admin: principal.admin }, device };
  }

  async enroll(code: string, deviceName: string | undefined): Promise<{ tokens: TokenResponse; events: StoredEvent[] }> {
    const now = this.now();
    const refreshToken = `lrt_${randomBytes(32).toString('base64url')}`;
    const name = (deviceName ?? '').trim() || 'device';
    const { user, device, events } = await this.store.write(async (tx) => {
      const row = await tx.selectFrom('enrollment_codes').selectAll().where('code_hash', '=', sha256(normalizeCode(code))).executeTakeFirst();
      if (!row || row.used_at !== null || row.expires_at <= now) {
        throw new ApiError(401, 'enrollment_invalid', 'this enrollment code is unknown, used or expired; ask an admin for a new one (`latch admin user code NAME`)');
      }
      await tx.updateTable('enrollment_codes').set({ used_at: now }).where('code_hash', '=', row.code_hash).where('used_at', 'is', null).execute();
      const device = { id: newId('dev'), name };
      await tx.insertInto('devices').values({ id: device.id, user_name: row.user_name, name, refresh_hash: sha256(refreshToken), prev_refresh_hash: null, created_at: now, last_used_at: now, revoked_at: null }).execute();
      const e = await appendEvent(tx, now, { type: 'user.enrolled', actor: row.user_name, data: { device: device.id, deviceName: name }, audience: { users: [row.user_name] } });
      return { user: row.user_name, device, events: [e] };
    });
    return { tokens: await this.respond(user, device, refreshToken), events };
  }

  async refresh(refreshToken: string): Promise<TokenResponse> {
    const now = this.now();
    const hash = sha256(refreshToken);
    const next = `lrt_${randomBytes(32).toString('base64url')}`;
    const result = await this.store.write(async (tx) => {
      const device = await tx.selectFrom('devices').selectAll().where('refresh_hash', '=', hash).executeTakeFirst();
      if (device && device.revoked_at === null) {
        await tx.updateTable('devices').set({ refresh_hash: sha256(next), prev_refresh_hash: hash, last_used_at: now }).where('id', '=', device.id).execute();
        return { ok: true as const, user: device.user_name, device: { id: device.id, name: device.name } };
      }
      const previous = await tx.selectFrom('devices').selectAll().where('prev_refresh_hash', 'in', [hash, `graced:${hash}`]).where('revoked_at', 'is', null).executeTakeFirst();
      if (previous && previous.prev_refresh_hash === hash && now - previous.last_used_at <= REFRESH_GRACE_MS) {
        // The answer to a refresh was lost moments ago: the client still holds the token before it.
        // Rotate once more, once only: presenting it again is reuse.
        await tx.updateTable('devices').set({ refresh_hash: sha256(next), prev_refresh_hash: `graced:${hash}` }).where('id', '=', previous.id).execute();
        return { ok: true as const, user: previous.user_name, device: { id: previous.id, name: previous.name } };
      }
      if (previous) {
        await tx.updateTable('devices').set({ revoked_at: now }).where('id', '=', previous.id).execute();
        return { ok: false as const, revoked: previous.id };
      }
      return { ok: false as const };
    });
    if (!result.ok && 'revoked' in result && result.revoked) this.onDeviceRevoked(result.revoked);
    if (!result.ok) throw new ApiError(401, 'refresh_invalid', 'this device was signed out or its refresh token was already used; sign in again with a new enrollment code');
    return this.respond(result.user, result.device, next);
  }

  async signOut(deviceId: string): Promise<void> {
    await this.store.write((tx) => tx.updateTable('devices').set({ revoked_at: this.now() }).where('id', '=', deviceId).execute());
    this.onDeviceRevoked(deviceId);
  }

  /** Verifies a bearer token; returns who it is for, or throws a 401 ApiError. */
  async verify(token: string): Promise<{ user: string; device: string }> {
    try {
      const { payload } = await jwtVerify(token, this.secret, { issuer: ISSUER, algorithms: ['HS256'], currentDate: new Date(this.now()) });
      if (typeof payload.sub !== 'string' || typeof payload.dev !== 'string') throw new Error('malformed');
      const device = await this.store.db.selectFrom('devices').select(['revoked_at']).where('id', '=', payload.dev).executeTakeFirst();
      if (!device || device.revoked_at !== null) throw new ApiError(401, 'unauthorized', 'this device was signed out; sign in again');
      return { user: payload.sub, device: payload.dev };
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new ApiError(401, 'token_expired', 'the access token expired; refresh it');
      throw new ApiError(401, 'unauthorized', 'the access token is not valid; sign in again');
    }
  }
}
