/**
 * The ssh connector end to end: the real server signs certificates for key pairs made the way the
 * CLI makes them, and a real OpenSSH sshd (trusting `/v1/ssh/ca.pub`, checking the KRL from
 * `/v1/ssh/krl`) is logged into with the real `ssh` client. Each login is a real attempt; a refused
 * one is checked against sshd's own reason. FIELD-CASES B30 for the validity window.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../test-support/harness.js';
import { serviceAvailable } from '../test-support/services.js';
import { certInfo, ensureTestUser, faketimeLibrary, freePort, newKeyPair, SSH_TEST_USER, sshdUnavailable, startSshd, type Sshd } from '../test-support/sshd.js';

const CONFIG = (port: number) => `
groups:
  eng: { members: [alice] }
  sre: { members: [bob] }
resources:
  bastion:
    connector: ssh
    config: { principals: [${SSH_TEST_USER}], host: 127.0.0.1, port: ${port}, user: ${SSH_TEST_USER} }
    roles: { login: {} }
  bastion-nobackdate:
    connector: ssh
    config: { principals: [${SSH_TEST_USER}], backdateSeconds: 0 }
    roles: { login: {} }
policies:
  - resource: bastion
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 1h
    extensions: { max: 3, requireApproval: false }
  - resource: bastion-nobackdate
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 1h
`;

const available = serviceAvailable('ssh connector against a real sshd', sshdUnavailable());
const faketime = available && serviceAvailable('ssh connector: a host whose clock is behind', faketimeLibrary() === null ? 'libfaketime (apt-get install faketime)' : null);

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.runIf(available)('ssh connector against a real sshd', () => {
  let h: Harness;
  let sshd: Sshd;
  let tmp: string;
  let caPublicKey: string;
  let n = 0;

  const krl = async () => {
    const res = await fetch(`${h.url}/v1/ssh/krl`);
    expect(res.status).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  };

  /** Requests `resource` as alice with a fresh key pair, bob approves, and waits until it is active. */
  async function activeGrant(resource: string, duration: string) {
    const alice = await h.as('alice');
    const bob = await h.as('bob');
    const { key, publicKey } = newKeyPair(tmp, `key${++n}`);
    const created = await alice.post('/v1/requests', { resource, role: 'login', duration, reason: 'ssh integration test', publicKey });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const approved = await bob.post(`/v1/requests/${created.body.id}/approve`, {});
    const grantId: string = approved.body.grantId;
    const grant = await until('the grant to be active', async () => {
      const g = await alice.get(`/v1/grants/${grantId}`);
      if (g.body.state === 'failed') throw new Error(`provisioning failed: ${g.body.failureReason}`);
      return g.body.state === 'active' ? g.body : undefined;
    });
    const answer = await alice.get(`/v1/grants/${grantId}/credential`);
    expect(answer.status).toBe(200);
    const cert = `${key}-cert.pub`;
    writeFileSync(cert, `${answer.body.credential.certificate}\n`);
    return { grantId, grant, credential: answer.body.credential, key, cert, activatedAt: Date.parse(grant.activatedAt), expiresAt: Date.parse(grant.expiresAt) };
  }

  beforeAll(async () => {
    ensureTestUser();
    tmp = mkdtempSync(join(tmpdir(), 'latch-ssh-it-'));
    const port = await freePort();
    h = await startHarness({ config: CONFIG(port) });
    const ca = await fetch(`${h.url}/v1/ssh/ca.pub`);
    expect(ca.status).toBe(200);
    caPublicKey = await ca.text();
    sshd = await startSshd({ caPublicKey, krl: await krl(), port });
  });
  afterAll(async () => {
    await sshd?.stop();
    await h?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('publishes the CA the data dir holds, without authentication', () => {
    expect(caPublicKey).toMatch(/^ssh-ed25519 \S+ latch-ca\n$/);
  });

  it('refuses a request without a public key, naming the problem', async () => {
    const alice = await h.as('alice');
    const r = await alice.post('/v1/requests', { resource: 'bastion', role: 'login', duration: '5m', reason: 'testing without a key' });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'validation_failed', field: 'publicKey' });
    expect(r.body.error.message).toMatch(/publicKey is missing.*OpenSSH public key/);
    const bad = await alice.post('/v1/requests', { resource: 'bastion', role: 'login', duration: '5m', reason: 'testing with a bad key', publicKey: 'ssh-ed25519 AAAA' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/not a usable ssh-ed25519 key/);
  });

  it('logs in with the certificate, and not once the KRL lists the ended grant; other grants keep working', async () => {
    const ended = await activeGrant('bastion', '15m');
    const other = await activeGrant('bastion', '15m');
    expect(ended.credential.command).toBe(`ssh -p ${sshd.port} ${SSH_TEST_USER}@127.0.0.1`);
    expect(await sshd.login(ended.key, ended.cert)).toMatchObject({ ok: true });

    const alice = await h.as('alice');
    const end = await alice.post(`/v1/grants/${ended.grantId}/end`);
    expect(end.body.state).toBe('ended');
    // Until the host refreshes its KRL the certificate still works: that is the refresh job's job.
    expect(await sshd.login(ended.key, ended.cert)).toMatchObject({ ok: true });
    sshd.setKrl(await krl());
    const refused = await sshd.login(ended.key, ended.cert);
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(sshd.log()).toMatch(/revoked by file/);
    expect(await sshd.login(other.key, other.cert)).toMatchObject({ ok: true });

    const events = await (await h.as('admin')).get('/v1/audit?limit=1000');
    const endedEvent = events.body.items.find((e: { type: string; grantId: string }) => e.type === 'grant.ended' && e.grantId === ended.grantId);
    expect(endedEvent.data).toMatchObject({ krl: 'listed', keyId: ended.grantId });
  });

  it('a 15-min grant gets a certificate from at most 60 s before activation to exactly the grant end (B30)', async () => {
    const g = await activeGrant('bastion', '15m');
    const info = certInfo(g.credential.certificate);
    expect(info.keyId).toBe(g.grantId);
    expect(info.principals).toEqual([SSH_TEST_USER]);
    expect(info.validAfter).toBe(Math.floor(g.activatedAt / 1000) - 60);
    expect(info.validBefore).toBe(Math.floor(g.expiresAt / 1000));
    expect(g.expiresAt - g.activatedAt).toBe(15 * 60_000);
    expect(info.validBefore * 1000).toBeLessThanOrEqual(g.expiresAt);
    expect(g.credential.validBefore).toBe(new Date(info.validBefore * 1000).toISOString());
  });

  it('a short real grant stops logging in when its certificate ends, without any KRL', async () => {
    const g = await activeGrant('bastion', '5s');
    expect(await sshd.login(g.key, g.cert)).toMatchObject({ ok: true });
    const info = certInfo(g.credential.certificate);
    expect(info.validBefore).toBe(Math.floor(g.expiresAt / 1000));
    // The sshd's KRL is not refreshed here, so only the certificate's own end can refuse it.
    await new Promise((r) => setTimeout(r, info.validBefore * 1000 - Date.now() + 300));
    const refused = await sshd.login(g.key, g.cert);
    expect(refused.ok).toBe(false);
    expect(sshd.log()).toMatch(/Certificate invalid: expired/);
  });

  it('an extension re-signs the certificate to the new end, never past it, and it logs in', async () => {
    const g = await activeGrant('bastion', '10m');
    const alice = await h.as('alice');
    const ext = await alice.post(`/v1/grants/${g.grantId}/extend`, { by: '5m', reason: 'need more time please' });
    expect(ext.body.state).toBe('approved');
    const after = await until('the re-signed certificate', async () => {
      const c = await alice.get(`/v1/grants/${g.grantId}/credential`);
      return c.body.credential.certificate !== g.credential.certificate ? c.body : undefined;
    });
    const expiresAt = Date.parse(after.expiresAt);
    expect(expiresAt).toBe(g.expiresAt + 5 * 60_000);
    const info = certInfo(after.credential.certificate);
    expect(info.validBefore).toBe(Math.floor(expiresAt / 1000));
    expect(info.validAfter).toBe(Math.floor(g.activatedAt / 1000) - 60);
    writeFileSync(g.cert, `${after.credential.certificate}\n`);
    expect(await sshd.login(g.key, g.cert)).toMatchObject({ ok: true });
  });

  describe.runIf(faketime)('a host whose clock is 30 s behind (libfaketime)', () => {
    let slow: Sshd;
    beforeAll(async () => {
      slow = await startSshd({ caPublicKey, krl: await krl(), faketimeOffset: '-30s' });
    });
    afterAll(async () => slow?.stop());

    it('accepts a login right after activation thanks to the 60 s backdate (B30)', async () => {
      const g = await activeGrant('bastion', '10m');
      expect(Date.now() - g.activatedAt).toBeLessThan(10_000);
      const login = await slow.login(g.key, g.cert);
      expect(login, slow.log()).toMatchObject({ ok: true });
    });

    it('without a backdate the same host refuses it as not yet valid (the backdate is what makes it work)', async () => {
      const g = await activeGrant('bastion-nobackdate', '10m');
      expect(certInfo(g.credential.certificate).validAfter).toBe(Math.floor(g.activatedAt / 1000));
      expect((await slow.login(g.key, g.cert)).ok).toBe(false);
      expect(slow.log()).toMatch(/Certificate invalid: not yet valid/);
    });
  });
});
