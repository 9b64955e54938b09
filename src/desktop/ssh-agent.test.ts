// The ssh-agent client against a real OpenSSH ssh-agent on its own socket: a key and certificate
// go in with a lifetime and come out again; what it refuses, and an agent that is not there, give
// sentences that say what to do.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../server/test-support/services.js';
import { sshKeygenUnavailable } from '../server/test-support/sshd.js';
import { defaultSshAgentSocket, listIdentities, sshAgentClient, SshAgentError } from './ssh-agent.js';
import { newSshKeyPair, parseSshPrivateKey } from './ssh-key.js';
import { until } from './test-support/agent-rig.js';

const missing = sshKeygenUnavailable() ?? (existsSync('/usr/bin/ssh-agent') ? null : 'OpenSSH `ssh-agent` (apt-get install openssh-client)');
const available = serviceAvailable('ssh-agent client against OpenSSH ssh-agent', missing);

describe('where the ssh-agent is', () => {
  it('SSH_AUTH_SOCK, else the OpenSSH pipe on Windows, else none', () => {
    expect(defaultSshAgentSocket({ SSH_AUTH_SOCK: '/run/user/1000/ssh.sock' }, 'linux')).toBe('/run/user/1000/ssh.sock');
    expect(defaultSshAgentSocket({}, 'win32')).toBe('\\\\.\\pipe\\openssh-ssh-agent');
    expect(defaultSshAgentSocket({ SSH_AUTH_SOCK: ' ' }, 'darwin')).toBeNull();
  });
});

describe.runIf(available)('ssh-agent client', () => {
  let dir: string;
  let agent: ChildProcess;
  let socket: string;

  /** A key pair made as the desktop makes it, and a certificate for it from a throwaway CA. */
  function certified(name: string, validity = '+10m') {
    const pair = newSshKeyPair();
    const pub = join(dir, `${name}.pub`);
    writeFileSync(pub, `${pair.publicKey}\n`);
    execFileSync('ssh-keygen', ['-q', '-s', join(dir, 'ca'), '-I', name, '-n', 'someone', '-V', validity, pub]);
    return { key: parseSshPrivateKey(pair.privateKey), certificate: readFileSync(join(dir, `${name}-cert.pub`), 'utf8').trim() };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latch-ssh-agent-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ca')]);
    socket = join(dir, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    await until('the ssh-agent socket', () => existsSync(socket), 10_000);
  });
  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      const exited = new Promise((r) => agent.once('exit', r));
      agent.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds a key with its certificate for a lifetime, after which the ssh-agent forgets it; removes one on request', async () => {
    const client = sshAgentClient(socket);
    const short = certified('short');
    const long = certified('long');
    await client.addCertificate({ ...short, lifetimeSeconds: 1, comment: 'latch short' });
    await client.addCertificate({ ...long, lifetimeSeconds: 600, comment: 'latch long' });
    expect((await listIdentities(socket)).map((i) => i.comment).sort()).toEqual(['latch long', 'latch short']);
    // `ssh-add -L` (OpenSSH's own view) shows the certificate itself.
    expect(execFileSync('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: socket }, encoding: 'utf8' })).toContain(long.certificate.split(' ')[1]);

    const added = Date.now();
    let left: string[] = [];
    while (Date.now() - added < 3_000 && left.length !== 1) {
      await new Promise((r) => setTimeout(r, 100));
      left = (await listIdentities(socket)).map((i) => i.comment);
    }
    expect(left).toEqual(['latch long']);
    await client.removeCertificate(long.certificate);
    expect(await listIdentities(socket)).toEqual([]);
    // Removing what is not there is fine.
    await client.removeCertificate(long.certificate);
  });

  it('a certificate for another key is refused, with what to do', async () => {
    const mine = certified('mine');
    const other = certified('other');
    const added = sshAgentClient(socket).addCertificate({ certificate: other.certificate, key: mine.key, lifetimeSeconds: 60, comment: 'mismatch' });
    await expect(added).rejects.toThrow(SshAgentError);
    await expect(added).rejects.toThrow(/refused the key and certificate .*use OpenSSH's ssh-agent, or `latch request` from a terminal/);
    await expect(sshAgentClient(socket).addCertificate({ certificate: 'ssh-rsa AAAA', key: mine.key, lifetimeSeconds: 60, comment: 'x' })).rejects.toThrow(/not an ed25519 certificate/);
  });

  it('no ssh-agent, or one that is gone: says how to start one', async () => {
    const { key, certificate } = certified('nowhere');
    const input = { certificate, key, lifetimeSeconds: 60, comment: 'x' };
    await expect(sshAgentClient(null, 'linux').addCertificate(input)).rejects.toThrow(/SSH_AUTH_SOCK is not set.*restart Latch so it sees SSH_AUTH_SOCK, then copy the command again/);
    await expect(sshAgentClient(null, 'win32').addCertificate(input)).rejects.toThrow(/OpenSSH Authentication Agent/);
    await expect(sshAgentClient(join(dir, 'gone.sock'), 'linux').addCertificate(input)).rejects.toThrow(/^The ssh-agent at .*gone\.sock cannot be reached \(ENOENT\)/);
  });
});
