/**
 * `latch request` / `latch credential` for an ssh resource with the built binary: the key pair is
 * made on this device, only its public half reaches the server, and the printed ssh command logs
 * in to a real sshd. Needs `npm run build` first (`npm test` does it), sshd and root.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newCodeFor } from '../server/auth/identity.js';
import { startHarness, type Harness } from '../server/test-support/harness.js';
import { serviceAvailable } from '../server/test-support/services.js';
import { ensureTestUser, freePort, SSH_TEST_USER, sshdUnavailable, startSshd, type Sshd } from '../server/test-support/sshd.js';

const BIN = resolve('dist/src/cli/main.js');
interface Run { code: number; stdout: string; stderr: string }

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const available = serviceAvailable('latch CLI with an ssh resource', sshdUnavailable());

describe.runIf(available)('latch CLI with an ssh resource', () => {
  let h: Harness;
  let sshd: Sshd;
  let tmp: string;
  const home = () => join(tmp, 'alice');
  const latch = (...args: string[]) => run(process.execPath, [BIN, ...args], { LATCH_HOME: home(), LATCH_KEYCHAIN: 'off' });

  beforeAll(async () => {
    ensureTestUser();
    tmp = mkdtempSync(join(tmpdir(), 'latch-ssh-cli-'));
    const port = await freePort();
    h = await startHarness({
      config: `
groups:
  eng: { members: [alice] }
  sre: { members: [bob] }
resources:
  bastion:
    connector: ssh
    config: { principals: [${SSH_TEST_USER}], host: 127.0.0.1, port: ${port} }
    roles: { login: {} }
policies:
  - resource: bastion
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 1h
`,
    });
    const caPublicKey = await (await fetch(`${h.url}/v1/ssh/ca.pub`)).text();
    const krl = Buffer.from(await (await fetch(`${h.url}/v1/ssh/krl`)).arrayBuffer());
    sshd = await startSshd({ caPublicKey, krl, port });
    const code = (await newCodeFor(h.server.store, 'alice', Date.now())).code;
    expect((await latch('login', '--server', h.url, '--code', code)).code).toBe(0);
  });
  afterAll(async () => {
    await sshd?.stop();
    await h?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('makes the key pair locally, sends only the public key, and prints an ssh command that logs in', async () => {
    const r = await latch('request', 'bastion', '--role', 'login', '--for', '10m', '--reason', 'deploy the hotfix', '--json');
    expect(r.code, r.stderr).toBe(0);
    const request = JSON.parse(r.stdout);
    const sshDir = join(home(), 'ssh');
    const keyName = readdirSync(sshDir).find((f) => /^latch-[0-9a-f]+$/.test(f))!;
    const key = join(sshDir, keyName);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(sshDir, 'keys.json'), 'utf8')).requests[request.id]).toBe(key);

    // The server holds the public key and nothing of the private one.
    const row = await h.server.store.db.selectFrom('requests').select('public_key').where('id', '=', request.id).executeTakeFirstOrThrow();
    expect(row.public_key).toBe(readFileSync(`${key}.pub`, 'utf8').trim());
    const privateBody = readFileSync(key, 'utf8').split('\n').slice(1, -2).join('');
    const dump = JSON.stringify(await h.server.store.db.selectFrom('requests').selectAll().execute()) + JSON.stringify(await h.server.store.db.selectFrom('events').selectAll().execute());
    expect(dump).not.toContain(privateBody.slice(0, 40));

    const approved = await (await h.as('bob')).post(`/v1/requests/${request.id}/approve`, {});
    const grantId: string = approved.body.grantId;
    for (let i = 0; i < 100 && (await (await h.as('alice')).get(`/v1/grants/${grantId}`)).body.state !== 'active'; i++) await new Promise((res) => setTimeout(res, 50));

    const cred = await latch('credential', grantId);
    expect(cred.code, cred.stderr).toBe(0);
    const cert = `${key}-cert.pub`;
    expect(existsSync(cert)).toBe(true);
    expect(cred.stdout.trim()).toBe(`ssh -i ${key} -o CertificateFile=${cert} -o IdentitiesOnly=yes -p ${sshd.port} ${SSH_TEST_USER}@127.0.0.1`);
    expect(cred.stderr).toMatch(new RegExp(`ssh certificate for ${grantId} as ${SSH_TEST_USER} written to .*-cert\\.pub, valid until `));

    // Run the printed command as a user would (plus what makes it non-interactive here).
    const [ssh, ...args] = cred.stdout.trim().split(' ');
    const login = await run(ssh!, ['-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', ...args, 'echo ok']);
    expect(login, sshd.log()).toMatchObject({ code: 0, stdout: 'ok\n' });
  });

  it('leaves no key behind when the server refuses the request', async () => {
    const before = readdirSync(join(home(), 'ssh')).length;
    const r = await latch('request', 'bastion', '--role', 'login', '--for', '5h', '--reason', 'way too long a grant');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the most this policy allows is 1h/);
    expect(readdirSync(join(home(), 'ssh'))).toHaveLength(before);
  });
});
