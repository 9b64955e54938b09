// The access pass as a third-party service sees it: verified against the server's published JWKS.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, type Harness } from '../test-support/harness.js';
import { PASS_AUDIENCE } from './pass.js';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => h.close());

it('issues a pass any service can verify with /.well-known/jwks.json, expiring with the grant', async () => {
  const alice = await h.as('alice');
  const bob = await h.as('bob');
  const r = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '20m', reason: 'INC-31 verify the pass' });
  await bob.post(`/v1/requests/${r.body.id}/approve`, {});
  await h.settle();
  const grant = (await alice.get(`/v1/requests/${r.body.id}`)).body.grantId as string;
  const { body } = await alice.get(`/v1/grants/${grant}/credential`);
  const jwks = createRemoteJWKSet(new URL(`${h.url}/.well-known/jwks.json`));
  const { payload } = await jwtVerify(body.credential.token, jwks, { audience: PASS_AUDIENCE });
  expect(payload).toMatchObject({ sub: 'alice', resource: 'demo-pass', role: 'read', grant, jti: grant });
  const g = (await alice.get(`/v1/grants/${grant}`)).body;
  expect(payload.exp).toBe(Math.floor(Date.parse(g.expiresAt) / 1000));
  expect(payload.exp! - payload.nbf!).toBeLessThanOrEqual(20 * 60);

  // Ended early: the pass is listed as revoked until its own exp.
  await alice.post(`/v1/grants/${grant}/end`);
  const revoked = await h.anonymous().get('/.well-known/latch-revoked-passes.json');
  expect(revoked.body.revoked).toContainEqual({ jti: grant, exp: payload.exp });
});

it('refuses a forged pass', async () => {
  const jwks = createRemoteJWKSet(new URL(`${h.url}/.well-known/jwks.json`));
  const forged = 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImxhdGNoLXgifQ.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl';
  await expect(jwtVerify(forged, jwks)).rejects.toThrow();
});
