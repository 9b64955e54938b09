// ssh access from the desktop app, with real parts only: the real server (ssh connector, its CA
// and KRL) on loopback, the desktop agent through the real sync layer, a real OpenSSH ssh-agent,
// and a real sshd trusting the server's CA, logged into with the real `ssh` client using nothing
// but what the app put in the ssh-agent and on the clipboard. The keychain is the real Keychain
// over an in-memory keyring, so what it holds can be checked after each step.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GrantView } from '../shared/api.js';
import { ManualClock, systemClock } from '../shared/clock.js';
import type { ActionResult } from '../shared/desktop-api.js';
import { startHarness, type Harness } from '../server/test-support/harness.js';
import { startHttpProxy } from '../sync/test-support/proxies.js';
import { serviceAvailable } from '../server/test-support/services.js';
import { ensureTestUser, SSH_TEST_USER, sshdUnavailable, startSshd, type Sshd } from '../server/test-support/sshd.js';
import { accounts } from './keychain.js';
import { listIdentities, sshAgentClient } from './ssh-agent.js';
import { makeRig, until, type Rig, type RigOptions } from './test-support/agent-rig.js';

const config = (sshPort: number) => `
groups:
  eng: { members: [alice] }
  sre: { members: [bob] }
resources:
  bastion:
    connector: ssh
    config: { principals: [${SSH_TEST_USER}], host: 127.0.0.1, port: ${sshPort}, user: ${SSH_TEST_USER} }
    roles: { login: {} }
  demo-pass:
    connector: pass
    roles: { read: {} }
policies:
  - resource: bastion
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 1h
    approveWithin: 1h
    extensions: { max: 1, requireApproval: false }
  - resource: demo-pass
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 1h
`;

const missing = sshdUnavailable() ?? (existsSync('/usr/bin/ssh-agent') || hasCommand('ssh-agent') ? null : 'OpenSSH `ssh-agent` (apt-get install openssh-client)');
const available = serviceAvailable('desktop agent: ssh access through a real ssh-agent and sshd', missing);

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function value<T>(r: ActionResult<T>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value;
}

/** A real OpenSSH ssh-agent on its own socket (not the developer's). */
async function startSshAgent(dir: string): Promise<{ socket: string; stop(): Promise<void> }> {
  const socket = join(dir, 'agent.sock');
  const child: ChildProcess = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  await until('the ssh-agent socket', () => existsSync(socket), 10_000);
  return {
    socket,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/**
 * Runs the copied command as a person would in a terminal whose SSH_AUTH_SOCK is the ssh-agent's
 * (no ssh config of the machine; the host key prompt answered).
 */
function runCopied(command: string, socket: string): Promise<{ ok: boolean; out: string }> {
  const [ssh, ...rest] = command.split(' ');
  expect(ssh).toBe('ssh');
  const args = ['-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', ...rest, 'echo ok'];
  return new Promise((resolve) => {
    execFile('ssh', args, { env: { ...process.env, SSH_AUTH_SOCK: socket }, encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ ok: !err && stdout.trim() === 'ok', out: `${stdout}${stderr}` });
    });
  });
}

async function codeFor(h: Harness, user: string): Promise<string> {
  const r = await (await h.as('admin')).post(`/v1/admin/users/${user}/code`, {});
  if (r.status !== 201) throw new Error(`code for ${user}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.code as string;
}

async function agentFor(h: Harness, user: string, opts: RigOptions, url = h.url): Promise<Rig> {
  const rig = makeRig(opts);
  await rig.agent.start();
  value(await rig.agent.enroll(url, await codeFor(h, user)));
  await until(`${user}'s first load`, () => rig.agent.snapshot().phase === 'ready');
  return rig;
}

const sshAccounts = (rig: Rig) => [...rig.ring.items.keys()].filter((k) => k.startsWith('ssh:')).sort();
const grantOf = (rig: Rig, requestId: string): GrantView | undefined => rig.agent.snapshot().grants.find((g) => g.requestId === requestId);
const ask = (rig: Rig, reason: string) => rig.agent.requestAccess({ resource: 'bastion', role: 'login', duration: '30m', reason });

const rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) await rig.close();
});
const track = (rig: Rig) => (rigs.push(rig), rig);

describe.runIf(available)('ssh access from the desktop agent', () => {
  let h: Harness;
  let sshd: Sshd;
  let agent: { socket: string; stop(): Promise<void> };
  let dir: string;

  beforeAll(async () => {
    ensureTestUser();
    dir = mkdtempSync(join(tmpdir(), 'latch-agent-ssh-'));
    const { freePort } = await import('../server/test-support/net.js');
    const port = await freePort();
    h = await startHarness({ config: config(port), heartbeatMs: 500 });
    const get = async (path: string) => Buffer.from(await (await fetch(`${h.url}${path}`)).arrayBuffer());
    sshd = await startSshd({ caPublicKey: (await get('/v1/ssh/ca.pub')).toString('utf8'), krl: await get('/v1/ssh/krl'), port });
    agent = await startSshAgent(dir);
  });
  afterAll(async () => {
    await agent?.stop();
    await sshd?.stop();
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('requests with a fresh public key, keeps the private key only in the keychain, and the copied command logs in through the ssh-agent', async () => {
    const alice = track(await agentFor(h, 'alice', { clock: systemClock, sshAgent: sshAgentClient(agent.socket) }));
    const bob = await h.as('bob');

    const r = value(await ask(alice, 'INC-900 deploy the hotfix'));
    expect(sshAccounts(alice)).toEqual([accounts.ssh(r.id)]);
    const privateKey = alice.ring.items.get(accounts.ssh(r.id))!;
    // The stored key is one OpenSSH loads as it is.
    const keyFile = join(dir, 'check-key');
    writeFileSync(keyFile, privateKey, { mode: 0o600 });
    const publicKey = execFileSync('ssh-keygen', ['-y', '-f', keyFile], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
    rmSync(keyFile);
    expect(JSON.stringify(r)).not.toContain('PRIVATE KEY');

    expect((await bob.post(`/v1/requests/${r.id}/approve`, {})).status).toBe(200);
    await until('active, the key moved to the grant id', () => {
      const g = grantOf(alice, r.id);
      return g?.state === 'active' && sshAccounts(alice).join() === accounts.ssh(g.id) && alice.ring.items.has(accounts.grant(g.id));
    }, 10_000);
    const g = grantOf(alice, r.id)!;
    expect(alice.ring.items.get(accounts.ssh(g.id))).toBe(privateKey);
    // The server signed the public half made here, and only that.
    const credential = JSON.parse(alice.ring.items.get(accounts.grant(g.id))!) as { certificate: string; command: string };
    const certFile = join(dir, 'check-cert.pub');
    writeFileSync(certFile, `${credential.certificate}\n`);
    expect(execFileSync('ssh-keygen', ['-L', '-f', certFile], { encoding: 'utf8' })).toContain(`Public key: ED25519-CERT ${execFileSync('ssh-keygen', ['-l', '-f', '-'], { input: publicKey, encoding: 'utf8' }).split(' ')[1]}`);
    rmSync(certFile);

    const copied = value(await alice.agent.copyCredential(g.id, 'command'));
    expect(copied.note).toMatch(/^Your ssh key and certificate are in your ssh-agent until \d\d:\d\d UTC: paste the command in a terminal\.$/);
    expect(alice.clipboard.text).toBe(`ssh -p ${sshd.port} ${SSH_TEST_USER}@127.0.0.1`);
    const held = await listIdentities(agent.socket);
    expect(held.map((i) => i.comment)).toEqual([`latch bastion/login ${g.id}`]);
    expect(held[0]!.blob.toString('base64')).toBe(credential.certificate.split(' ')[1]);

    const login = await runCopied(alice.clipboard.text!, agent.socket);
    expect(login, login.out).toMatchObject({ ok: true });
    await until('sshd logged the certificate login', () => sshd.log().includes(`ID "${g.id}"`));

    // Extended: the server signs a new certificate to the new end; it replaces the old one in the
    // keychain and in the ssh-agent, so ssh goes on working without another copy.
    value(await alice.agent.extendGrant(g.id, '15m', 'INC-900 the hotfix needs longer'));
    const renewed = async () => {
      const stored = JSON.parse(alice.ring.items.get(accounts.grant(g.id)) ?? '{}') as { certificate?: string };
      const inAgent = (await listIdentities(agent.socket)).map((i) => i.blob.toString('base64'));
      return stored.certificate !== credential.certificate && inAgent.length === 1 && inAgent[0] === stored.certificate?.split(' ')[1];
    };
    for (let i = 0; i < 100 && !(await renewed()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await renewed()).toBe(true);
    expect((await runCopied(`ssh -p ${sshd.port} ${SSH_TEST_USER}@127.0.0.1`, agent.socket)).ok).toBe(true);

    // End now: the keychain forgets the key and the credential, and the ssh-agent drops them.
    value(await alice.agent.endGrant(g.id));
    await alice.agent.idle();
    expect(sshAccounts(alice)).toEqual([]);
    expect(alice.ring.items.has(accounts.grant(g.id))).toBe(false);
    expect(await listIdentities(agent.socket)).toEqual([]);
    expect((await runCopied(`ssh -p ${sshd.port} ${SSH_TEST_USER}@127.0.0.1`, agent.socket)).ok).toBe(false);
  });

  it('deletes the key of a request that is denied, cancelled, or ends while the app is closed', async () => {
    const alice = track(await agentFor(h, 'alice', { clock: systemClock, sshAgent: sshAgentClient(agent.socket) }));
    const bob = await h.as('bob');

    const denied = value(await ask(alice, 'INC-901 to be denied'));
    expect(sshAccounts(alice)).toEqual([accounts.ssh(denied.id)]);
    expect((await bob.post(`/v1/requests/${denied.id}/deny`, { comment: 'not today' })).status).toBe(200);
    await until("the denied request's key deleted", () => sshAccounts(alice).length === 0);

    const cancelled = value(await ask(alice, 'INC-902 to be cancelled'));
    expect(sshAccounts(alice)).toEqual([accounts.ssh(cancelled.id)]);
    value(await alice.agent.cancel(cancelled.id));
    await alice.agent.idle();
    expect(sshAccounts(alice)).toEqual([]);

    // Denied while the app is closed: the next launch deletes its key.
    const later = value(await ask(alice, 'INC-903 denied while closed'));
    let next = track(await alice.relaunch());
    expect((await bob.post(`/v1/requests/${later.id}/deny`, { comment: 'not now' })).status).toBe(200);
    await next.agent.start();
    await until('ready', () => next.agent.snapshot().phase === 'ready');
    await next.agent.idle();
    expect(sshAccounts(next)).toEqual([]);

    // Made in an earlier run and approved in this one: the key follows the grant, and the ssh command works.
    const waiting = value(await next.agent.requestAccess({ resource: 'bastion', role: 'login', duration: '30m', reason: 'INC-904 approved after a restart' }));
    next = track(await next.relaunch());
    await next.agent.start();
    await until('ready', () => next.agent.snapshot().phase === 'ready');
    await next.agent.idle();
    expect(sshAccounts(next)).toEqual([accounts.ssh(waiting.id)]);
    expect((await bob.post(`/v1/requests/${waiting.id}/approve`, {})).status).toBe(200);
    await until('the key moved to the grant', () => {
      const g = grantOf(next, waiting.id);
      return g?.state === 'active' && sshAccounts(next).join() === accounts.ssh(g.id);
    }, 10_000);
    const g = grantOf(next, waiting.id)!;
    value(await next.agent.copyCredential(g.id, 'command'));
    expect((await runCopied(next.clipboard.text!, agent.socket)).ok).toBe(true);

    // Signing out forgets the key and takes it out of the ssh-agent.
    value(await next.agent.signOut());
    await next.agent.idle();
    expect(sshAccounts(next)).toEqual([]);
    expect(await listIdentities(agent.socket)).toEqual([]);
    expect((await (await h.as('alice')).post(`/v1/grants/${g.id}/end`)).status).toBe(200);
  });

  it('a key pair that cannot be made, or no ssh-agent: an error that says what to do, and nothing half done', async () => {
    const broken = track(await agentFor(h, 'alice', {
      clock: systemClock, sshAgent: sshAgentClient(null, 'linux'),
      makeSshKeyPair: () => {
        throw new Error('error:1C800066:Provider routines::cipher operation failed');
      },
    }));
    const mine = async () => ((await (await h.as('alice')).get('/v1/requests?scope=mine')).body as { items: unknown[] }).items.length;
    const before = await mine();
    const refused = await ask(broken, 'INC-905 no key pair');
    expect(refused).toMatchObject({ ok: false, error: { code: 'ssh_key_failed', message: expect.stringMatching(/could not make an ssh key pair on this device \(.*\), so nothing was requested\. Restart Latch and request again/) } });
    expect(await mine()).toBe(before);
    expect(sshAccounts(broken)).toEqual([]);
    // Other resources are unaffected: no key is made for them.
    expect((await broken.agent.requestAccess({ resource: 'demo-pass', role: 'read', duration: '30m', reason: 'INC-906 not ssh' })).ok).toBe(true);
    await broken.close();

    const alice = track(await agentFor(h, 'alice', { clock: systemClock, sshAgent: sshAgentClient(null, 'linux') }));
    const r = value(await ask(alice, 'INC-907 no ssh-agent here'));
    expect((await (await h.as('bob')).post(`/v1/requests/${r.id}/approve`, {})).status).toBe(200);
    await until('active', () => grantOf(alice, r.id)?.state === 'active' && alice.ring.items.has(accounts.grant(grantOf(alice, r.id)!.id)), 10_000);
    const g = grantOf(alice, r.id)!;
    const noAgent = await alice.agent.copyCredential(g.id, 'command');
    expect(noAgent).toMatchObject({ ok: false, error: { code: 'ssh_agent_unavailable', message: expect.stringMatching(/^No ssh-agent is running where Latch started \(SSH_AUTH_SOCK is not set\).*then copy the command again\.$/) } });
    expect(alice.clipboard.text).toBeNull();
    // The certificate itself can still be copied.
    expect((await alice.agent.copyCredential(g.id, 'certificate')).ok).toBe(true);

    // From another device (the key is not here): it says where to connect from.
    const other = track(await agentFor(h, 'alice', { clock: systemClock, sshAgent: sshAgentClient(agent.socket), deviceName: 'other-laptop' }));
    await until('the grant known', () => grantOf(other, r.id)?.state === 'active');
    expect(await other.agent.copyCredential(g.id, 'command')).toMatchObject({ ok: false, error: { code: 'not_found', message: expect.stringMatching(/not on this device/) } });
    value(await alice.agent.endGrant(g.id));
  });
});

describe.runIf(available)('ssh keys of requests that time out', () => {
  it("deletes the key when nobody decides before the approve-by deadline", async () => {
    const clock = new ManualClock(Date.now());
    const h = await startHarness({ config: config(22), clock, heartbeatMs: 500 });
    try {
      const alice = track(await agentFor(h, 'alice', { clock: systemClock }));
      const r = value(await ask(alice, 'INC-908 nobody will answer'));
      expect(sshAccounts(alice)).toEqual([accounts.ssh(r.id)]);
      clock.advance(61 * 60_000);
      await h.settle();
      await until('timed out here', () => alice.agent.snapshot().requests.find((x) => x.id === r.id)?.state === 'timed_out');
      await alice.agent.idle();
      expect(sshAccounts(alice)).toEqual([]);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await h.close();
    }
  });
});

describe.runIf(available)('an ssh key stored while a full refetch is on its way', () => {
  it('is not swept with lists fetched before the request existed: the grant works from this device', async () => {
    const h = await startHarness({ config: config(22), heartbeatMs: 500 });
    const proxy = await startHttpProxy(h.url);
    try {
      const alice = track(await agentFor(h, 'alice', { clock: systemClock }, proxy.url));
      await alice.agent.idle();
      // The refetch a resume starts: its lists are answered by the server, and held on the way back.
      const lists = proxy.holdAnswers((r) => r.method === 'GET' && (r.path === '/v1/requests' || r.path === '/v1/grants'));
      alice.agent.resume();
      // Five lists: my requests, my pending ones, those to review, my newest grants, my unfinished ones.
      await until('the lists answered, not yet delivered', () => lists.held === 5);
      const r = value(await ask(alice, 'INC-910 asked during a refetch'));
      expect(sshAccounts(alice)).toEqual([accounts.ssh(r.id)]);

      lists.release();
      await until('the request listed', () => alice.agent.snapshot().requests.some((x) => x.id === r.id));
      await alice.agent.idle();
      expect(sshAccounts(alice)).toEqual([accounts.ssh(r.id)]);

      // And the grant can be used from here: the key follows it.
      expect((await (await h.as('bob')).post(`/v1/requests/${r.id}/approve`, {})).status).toBe(200);
      await until('active, the key moved to the grant id', () => {
        const g = grantOf(alice, r.id);
        return g?.state === 'active' && sshAccounts(alice).join() === accounts.ssh(g.id);
      }, 10_000);
    } finally {
      for (const rig of rigs.splice(0)) await rig.close();
      await proxy.close();
      await h.close();
    }
  });
});
