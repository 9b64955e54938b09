/**
 * `pass`: a signed JWT access pass (subject, resource, role, grant id, exp) that any service can
 * verify against `/.well-known/jwks.json`. A pass cannot be recalled once handed out, so a pass
 * ended early is listed at `/.well-known/latch-revoked-passes.json` until its own exp passes.
 */
import type { webcrypto } from 'node:crypto';
import { SignJWT } from 'jose';
import { ConnectorConfigError, type Connector, type GrantTarget, type Provisioned } from './types.js';

export const PASS_AUDIENCE = 'latch-pass';

export function passConnector(opts: { issuer: string; kid: string; key: webcrypto.CryptoKey }): Connector {
  const sign = async (t: GrantTarget): Promise<Provisioned> => {
    const token = await new SignJWT({ resource: t.resource, role: t.role, grant: t.grantId })
      .setProtectedHeader({ alg: 'ES256', kid: opts.kid, typ: 'JWT' })
      .setIssuer(opts.issuer)
      .setAudience(PASS_AUDIENCE)
      .setSubject(t.user)
      .setJti(t.grantId)
      .setIssuedAt(Math.floor(t.startsAt / 1000))
      .setNotBefore(Math.floor(t.startsAt / 1000))
      // Floor, never round up: the pass must not outlive the grant.
      .setExpirationTime(Math.floor(t.expiresAt / 1000))
      .sign(opts.key);
    return { credential: { type: 'pass', token, expiresAt: new Date(Math.floor(t.expiresAt / 1000) * 1000).toISOString() } };
  };
  return {
    kind: 'pass',
    checkConfig(config, resource) {
      const unknown = Object.keys(config);
      if (unknown.length > 0) {
        const detail = `the pass connector takes no config (found ${unknown.join(', ')})`;
        throw new ConnectorConfigError(`resource ${resource}: ${detail}`, unknown[0]!, detail);
      }
    },
    provision: sign,
    extend: sign,
    async revoke() {
      return { audit: { note: 'pass listed as revoked until its exp' } };
    },
  };
}
