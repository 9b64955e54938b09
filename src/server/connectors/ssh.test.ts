/**
 * The ssh connector against the real `ssh-keygen` (no sshd): config and public-key checks, the CA,
 * the certificate it signs (read back with `ssh-keygen -L`), and the KRL (checked with
 * `ssh-keygen -Q`). Logins against a real sshd are in ssh.integration.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certInfo, newKeyPair, sshKeygenUnavailable } from '../test-support/sshd.js';
import { serviceAvailable } from '../test-support/services.js';
import { certWindow, checkPublicKey, KRL_KEEP_AFTER_END_MS, SSH_CA_ROUTE, SSH_KRL_ROUTE, sshConnector, sshTime } from './ssh.js';
import type { GrantTarget } from './types.js';

// Pure parts first: they need no binary.
describe('certificate window (B30)', () => {
  it('starts the backdate before activation and ends at the grant end floored to the second', () => {
    const start = Date.parse('2026-03-01T10:00:00.400Z');
    const end = Date.parse('2026-03-01T11:00:00.999Z');
    expect(certWindow(start, end, 60)).toEqual({ validAfter: Date.parse('2026-03-01T09:59:00Z') / 1000, validBefore: Date.parse('2026-03-01T11:00:00Z') / 1000 });
  });

  it('formats UTC with a Z whatever the process TZ', () => {
    expect(sshTime(Date.parse('2026-03-08T06:59:59Z') / 1000)).toBe('20260308065959Z');
  });
});

const T0 = Date.parse('2026-03-01T10:00:00Z');
const available = serviceAvailable('ssh connector (ssh-keygen)', sshKeygenUnavailable());

describe.runIf(available)('ssh connector', () => {
  let tmp: string;
  let keys: string;
  let ed25519: string;
  const dataDirs: string[] = [];
  const newDataDir = () => {
    const d = mkdtempSync(join(tmp, 'data-'));
    dataDirs.push(d);
    return d;
  };
  const target = (over: Partial<GrantTarget> = {}): GrantTarget => ({
    grantId: 'gr_unit0000000001', user: 'alice', resource: 'bastion', role: 'login', config: { principals: ['deploy', 'alice'] },
    startsAt: T0, expiresAt: T0 + 3600_000, publicKey: ed25519, ...over,
  });
  const revokedBy = (krl: Buffer | string, cert: string): boolean => {
    const dir = mkdtempSync(join(tmp, 'q-'));
    writeFileSync(join(dir, 'krl'), krl);
    writeFileSync(join(dir, 'c-cert.pub'), `${cert}\n`);
    try {
      execFileSync('ssh-keygen', ['-Q', '-f', join(dir, 'krl'), join(dir, 'c-cert.pub')], { stdio: 'pipe' });
      return false;
    } catch (err) {
      if ((err as { status?: number }).status === 1) return true;
      throw err;
    }
  };

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'latch-ssh-unit-'));
    keys = mkdtempSync(join(tmp, 'keys-'));
    ed25519 = newKeyPair(keys, 'ed').publicKey;
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  describe('public keys', () => {
    it('accepts ed25519, ECDSA and RSA ≥ 2048 keys and signs them without the comment', () => {
      for (const [type, bits] of [['ed25519'], ['ecdsa', 256], ['ecdsa', 384], ['ecdsa', 521], ['rsa', 3072]] as const) {
        const { publicKey } = newKeyPair(keys, `k-${type}-${bits ?? ''}`, type, bits);
        const r = checkPublicKey(publicKey);
        expect(r, publicKey).toMatchObject({ ok: true });
        if (r.ok) expect(r.line).toBe(publicKey.split(' ').slice(0, 2).join(' '));
      }
    });

    it('refuses what is not a usable public key, saying what it is', () => {
      const [type, b64] = ed25519.split(' ') as [string, string];
      const rsa1024 = newKeyPair(keys, 'rsa1024', 'rsa', 1024).publicKey;
      const cases: [string | null, RegExp][] = [
        [null, /publicKey is missing/],
        ['   ', /publicKey is missing/],
        [readFileSync(join(keys, 'ed'), 'utf8'), /PRIVATE key/],
        [`${ed25519}\n${ed25519}`, /one key on one line/],
        [`ssh-dss ${b64}`, /supported type/],
        [`command="x" ${ed25519}`, /supported type/],
        [`${type} not*base64`, /not valid base64/],
        [`${type} ${b64.slice(0, 40)}`, /not valid base64|truncated|malformed/],
        [`ecdsa-sha2-nistp256 ${b64}`, /says "ssh-ed25519"/],
        [rsa1024, /1024 bits/],
      ];
      for (const [text, problem] of cases) {
        const r = checkPublicKey(text);
        expect(r.ok, String(text)).toBe(false);
        if (!r.ok) expect(r.problem).toMatch(problem);
      }
      // A certificate is not a key to sign.
      const c = sshConnector({ dataDir: newDataDir() });
      return c.provision(target()).then(({ credential }) => {
        const r = checkPublicKey(String(credential.certificate));
        expect(r).toMatchObject({ ok: false, problem: expect.stringMatching(/certificate/) });
      });
    });
  });

  describe('config', () => {
    it('names the resource and the key that is wrong', () => {
      const c = sshConnector({ dataDir: newDataDir() });
      const bad: [Record<string, unknown>, RegExp][] = [
        [{}, /^resource bastion: .*either principals .*or principalsByRole/],
        [{ principals: ['a'], principalsByRole: { login: ['a'] } }, /not both/],
        [{ principals: [] }, /^resource bastion: principals: give at least one principal/],
        [{ principals: ['a,b'] }, /^resource bastion: principals\.0: .*without spaces or commas/],
        [{ principals: ['a'], port: 70000 }, /^resource bastion: port: /],
        [{ principals: ['a'], backdateSeconds: -1 }, /^resource bastion: backdateSeconds: /],
        [{ principals: ['a'], forwarding: { agent: 'yes' } }, /^resource bastion: forwarding\.agent: /],
        [{ principals: ['a'], forwarding: { tunnel: true } }, /^resource bastion: unknown key "tunnel"/],
        [{ principals: ['a'], ttl: '1h' }, /^resource bastion: unknown key "ttl" \(the ssh connector takes principals/],
        [{ principals: ['a'], caKeyFile: join(tmp, 'nope') }, /^resource bastion: caKeyFile: cannot read .*nope \(ENOENT\)/],
      ];
      for (const [config, message] of bad) expect(() => c.checkConfig(config, 'bastion'), JSON.stringify(config)).toThrow(message);
      expect(() => c.checkConfig({ principalsByRole: { login: ['deploy'] }, host: 'bastion.internal', port: 2222, user: 'deploy', backdateSeconds: 120, forwarding: { agent: true } }, 'bastion')).not.toThrow();
    });

    it('refuses a request without a key, or for a role that has no principals, before anyone reviews it', () => {
      const c = sshConnector({ dataDir: newDataDir() });
      const input = { resource: 'bastion', role: 'login', config: { principalsByRole: { login: ['deploy'] } }, publicKey: ed25519 };
      expect(c.checkRequest!(input)).toBeNull();
      expect(c.checkRequest!({ ...input, publicKey: null })).toMatch(/publicKey is missing/);
      expect(c.checkRequest!({ ...input, role: 'admin' })).toMatch(/resource bastion: role admin has no principals in principalsByRole/);
      // Not one of Object.prototype's members either (`constructor` was read as a list of principals).
      expect(c.checkRequest!({ ...input, role: 'constructor' })).toMatch(/resource bastion: role constructor has no principals in principalsByRole/);
    });
  });

  describe('certificate authority', () => {
    it('is generated on first start into the data dir (0600), kept across restarts, and published', async () => {
      const dataDir = newDataDir();
      const first = sshConnector({ dataDir });
      first.checkConfig({ principals: ['deploy'] }, 'bastion');
      const file = join(dataDir, 'ssh_ca');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const pub = readFileSync(`${file}.pub`, 'utf8').trim();
      expect(pub).toMatch(/^ssh-ed25519 \S+ latch-ca$/);
      expect(await first.publicFiles![SSH_CA_ROUTE]!.body()).toBe(`${pub}\n`);
      const again = sshConnector({ dataDir });
      again.checkConfig({ principals: ['deploy'] }, 'bastion');
      expect(readFileSync(`${file}.pub`, 'utf8').trim()).toBe(pub);
      expect(await again.publicFiles![SSH_CA_ROUTE]!.body()).toBe(`${pub}\n`);
    });

    it('signs with caKeyFile when a resource names one, and publishes that CA too', async () => {
      const dataDir = newDataDir();
      const ca = join(tmp, 'team_ca');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'team-ca', '-f', ca]);
      const c = sshConnector({ dataDir });
      c.checkConfig({ principals: ['deploy'], caKeyFile: ca }, 'team-box');
      expect(existsSync(join(dataDir, 'ssh_ca'))).toBe(false);
      c.checkConfig({ principals: ['deploy'] }, 'bastion');
      const published = String(await c.publicFiles![SSH_CA_ROUTE]!.body());
      expect(published).toContain(readFileSync(`${ca}.pub`, 'utf8').trim());
      expect(published).toContain('latch-ca');
      const { credential } = await c.provision(target({ resource: 'team-box', config: { principals: ['deploy'], caKeyFile: ca } }));
      const fingerprint = (f: string) => execFileSync('ssh-keygen', ['-l', '-f', f], { encoding: 'utf8' }).split(' ')[1];
      const certFile = join(tmp, 'team-cert.pub');
      writeFileSync(certFile, `${String(credential.certificate)}\n`);
      expect(execFileSync('ssh-keygen', ['-L', '-f', certFile], { encoding: 'utf8' })).toContain(`Signing CA: ED25519 ${fingerprint(`${ca}.pub`)}`);
    });

    it('derives the CA public key from the private key, never from a stale .pub beside it', async () => {
      const ca = join(tmp, 'stale_ca');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'real', '-f', ca]);
      const real = readFileSync(`${ca}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
      writeFileSync(`${ca}.pub`, `${ed25519}\n`);
      const c = sshConnector({ dataDir: newDataDir() });
      c.checkConfig({ principals: ['deploy'], caKeyFile: ca }, 'team-box');
      const published = String(await c.publicFiles![SSH_CA_ROUTE]!.body());
      expect(published).toContain(real);
      expect(published).not.toContain(ed25519.split(' ')[1]);
    });

    it('refuses a caKeyFile others can read, at start', () => {
      const ca = join(tmp, 'open_ca');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', ca]);
      chmodSync(ca, 0o644);
      const c = sshConnector({ dataDir: newDataDir() });
      expect(() => c.checkConfig({ principals: ['deploy'], caKeyFile: ca }, 'team-box')).toThrow(/^resource team-box: caKeyFile: ssh-keygen failed \(.*bad permissions\)/);
    });
  });

  describe('provision', () => {
    it('signs the key for the principals, key id = grant id, from the backdate to exactly the grant end (B30)', async () => {
      const c = sshConnector({ dataDir: newDataDir() });
      const t = target({ startsAt: T0 + 400, expiresAt: T0 + 15 * 60_000 + 999, config: { principals: ['deploy', 'alice'], host: 'bastion.internal', port: 2222 } });
      const { credential } = await c.provision(t);
      const info = certInfo(String(credential.certificate));
      expect(info.keyId).toBe(t.grantId);
      expect(info.principals).toEqual(['deploy', 'alice']);
      expect(info.validAfter).toBe(T0 / 1000 - 60);
      expect(info.validBefore).toBe(T0 / 1000 + 15 * 60);
      expect(info.validLine).toBe('from 2026-03-01T09:59:00 to 2026-03-01T10:15:00');
      expect(info.criticalOptions).toEqual([]);
      expect(info.extensions).toEqual(['permit-pty']);
      expect(BigInt(info.serial)).toBeGreaterThan(0n);
      expect(BigInt(info.serial)).toBeLessThan(2n ** 63n);
      expect(credential).toMatchObject({
        type: 'ssh', principals: ['deploy', 'alice'], keyId: t.grantId, serial: info.serial,
        validAfter: '2026-03-01T09:59:00.000Z', validBefore: '2026-03-01T10:15:00.000Z', command: 'ssh -p 2222 deploy@bastion.internal',
      });
    });

    it('gives a role its own principals, forwarding only when configured, and a configurable backdate', async () => {
      const c = sshConnector({ dataDir: newDataDir() });
      const config = { principalsByRole: { login: ['deploy'], admin: ['root'] }, user: 'ops', host: '10.0.0.5', backdateSeconds: 300, forwarding: { agent: true, port: true } };
      const { credential } = await c.provision(target({ role: 'admin', config }));
      const info = certInfo(String(credential.certificate));
      expect(info.principals).toEqual(['root']);
      expect(info.extensions.sort()).toEqual(['permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty']);
      expect(info.validAfter).toBe(T0 / 1000 - 300);
      expect(credential.command).toBe('ssh ops@10.0.0.5');
      await expect(c.provision(target({ role: 'viewer', config }))).rejects.toThrow(/role viewer has no principals/);
      await expect(c.provision(target({ publicKey: null }))).rejects.toThrow(/publicKey is missing/);
    });

    it('yields identical UTC values when ssh-keygen runs in TZ America/New_York (B30)', async () => {
      // A DST change in New York (2026-03-08 07:00Z) inside the window makes any local-time slip show.
      const t = target({ startsAt: Date.parse('2026-03-08T06:30:00Z'), expiresAt: Date.parse('2026-03-08T07:30:00Z') });
      const utc = certInfo(String((await sshConnector({ dataDir: newDataDir(), env: { ...process.env, TZ: 'UTC' } }).provision(t)).credential.certificate));
      const ny = certInfo(String((await sshConnector({ dataDir: newDataDir(), env: { ...process.env, TZ: 'America/New_York' } }).provision(t)).credential.certificate));
      expect(ny.validLine).toBe('from 2026-03-08T06:29:00 to 2026-03-08T07:30:00');
      expect(ny.validLine).toBe(utc.validLine);
    });

    it('extend re-signs with the new end, never past it', async () => {
      const c = sshConnector({ dataDir: newDataDir() });
      const moved = target({ expiresAt: T0 + 90 * 60_000 + 500 });
      const info = certInfo(String((await c.extend!(moved))!.credential.certificate));
      expect(info.validBefore).toBe(T0 / 1000 + 90 * 60);
      expect(info.validAfter).toBe(T0 / 1000 - 60);
    });
  });

  describe('revoke and the KRL', () => {
    it('publishes a valid empty KRL before anything is revoked', async () => {
      const c = sshConnector({ dataDir: newDataDir() });
      const { credential } = await c.provision(target());
      const krl = await c.publicFiles![SSH_KRL_ROUTE]!.body();
      expect(revokedBy(krl, String(credential.certificate))).toBe(false);
    });

    it('lists the key id of the revoked grant only; revoking twice is fine', async () => {
      const dataDir = newDataDir();
      const c = sshConnector({ dataDir, clock: { now: () => T0 } });
      const a = await c.provision(target({ grantId: 'gr_aaaaaaaaaaaaaaaa' }));
      const b = await c.provision(target({ grantId: 'gr_bbbbbbbbbbbbbbbb' }));
      expect(await c.revoke(target({ grantId: 'gr_aaaaaaaaaaaaaaaa' }))).toEqual({ audit: { krl: 'listed', keyId: 'gr_aaaaaaaaaaaaaaaa' } });
      await c.revoke(target({ grantId: 'gr_aaaaaaaaaaaaaaaa' }));
      const krl = await c.publicFiles![SSH_KRL_ROUTE]!.body();
      expect(readFileSync(join(dataDir, 'ssh.krl')).equals(Buffer.from(krl))).toBe(true);
      expect(revokedBy(krl, String(a.credential.certificate))).toBe(true);
      expect(revokedBy(krl, String(b.credential.certificate))).toBe(false);
      const list = JSON.parse(readFileSync(join(dataDir, 'ssh_revoked.json'), 'utf8'));
      expect(list.revoked).toEqual([{ keyId: 'gr_aaaaaaaaaaaaaaaa', caPublicKey: expect.stringMatching(/^ssh-ed25519 /), certEnd: '2026-03-01T11:00:00.000Z' }]);
      expect(readdirSync(dataDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    });

    it('loses no id when many revokes run at once', async () => {
      const c = sshConnector({ dataDir: newDataDir(), clock: { now: () => T0 } });
      const ids = Array.from({ length: 12 }, (_, i) => `gr_concurrent${String(i).padStart(4, '0')}`);
      const certs = await Promise.all(ids.map(async (grantId) => String((await c.provision(target({ grantId }))).credential.certificate)));
      await Promise.all(ids.map((grantId) => c.revoke(target({ grantId }))));
      const krl = await c.publicFiles![SSH_KRL_ROUTE]!.body();
      expect(certs.map((cert) => revokedBy(krl, cert))).toEqual(ids.map(() => true));
    });

    it('prunes ids whose certificate expired more than a day ago', async () => {
      const dataDir = newDataDir();
      let now = T0;
      const c = sshConnector({ dataDir, clock: { now: () => now } });
      await c.revoke(target({ grantId: 'gr_old0000000000000' }));
      now = T0 + 3600_000 + KRL_KEEP_AFTER_END_MS + 1000;
      await c.revoke(target({ grantId: 'gr_new0000000000000', startsAt: now, expiresAt: now + 600_000 }));
      const list = JSON.parse(readFileSync(join(dataDir, 'ssh_revoked.json'), 'utf8'));
      expect(list.revoked.map((r: { keyId: string }) => r.keyId)).toEqual(['gr_new0000000000000']);
    });

    it('lists ids under the CA that signed them', async () => {
      const ca = join(tmp, 'other_ca');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', ca]);
      const c = sshConnector({ dataDir: newDataDir(), clock: { now: () => T0 } });
      const config = { principals: ['deploy'], caKeyFile: ca };
      const other = await c.provision(target({ grantId: 'gr_otherca00000000', config }));
      const own = await c.provision(target({ grantId: 'gr_ownca0000000000' }));
      await c.revoke(target({ grantId: 'gr_otherca00000000', config }));
      await c.revoke(target({ grantId: 'gr_ownca0000000000' }));
      const krl = await c.publicFiles![SSH_KRL_ROUTE]!.body();
      expect(revokedBy(krl, String(other.credential.certificate))).toBe(true);
      expect(revokedBy(krl, String(own.credential.certificate))).toBe(true);
    });

    it('refuses to start over when the revoked list is unreadable (that would un-revoke)', async () => {
      const dataDir = newDataDir();
      writeFileSync(join(dataDir, 'ssh_revoked.json'), '{ broken');
      const c = sshConnector({ dataDir });
      await expect(c.revoke(target())).rejects.toThrow(/ssh_revoked\.json is not a Latch revoked-certificate list/);
    });
  });
});
