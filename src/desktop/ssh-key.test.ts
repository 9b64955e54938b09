// The key pair of an ssh request, checked against OpenSSH's own `ssh-keygen`: what the agent keeps
// in the keychain must be a key OpenSSH loads, and a key OpenSSH wrote must read back the same.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkPublicKey } from '../server/connectors/ssh.js';
import { serviceAvailable } from '../server/test-support/services.js';
import { sshKeygenUnavailable } from '../server/test-support/sshd.js';
import { newSshKeyPair, parseSshPrivateKey, SshKeyError } from './ssh-key.js';

const dir = mkdtempSync(join(tmpdir(), 'latch-sshkey-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const keygen = serviceAvailable('desktop ssh keys checked with ssh-keygen', sshKeygenUnavailable());

describe('newSshKeyPair', () => {
  it('makes an ed25519 public key line the server accepts, a new one each time', () => {
    const a = newSshKeyPair();
    const b = newSshKeyPair();
    expect(a.publicKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} latch$/);
    expect(checkPublicKey(a.publicKey)).toMatchObject({ ok: true, type: 'ssh-ed25519' });
    expect(a.publicKey).not.toBe(b.publicKey);
    expect(a.privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END OPENSSH PRIVATE KEY-----\n$/);
    expect(a.privateKey).not.toContain(a.publicKey.split(' ')[1]);
  });

  it('reads back what it wrote', () => {
    const pair = newSshKeyPair('latch test');
    const key = parseSshPrivateKey(pair.privateKey);
    expect(key.comment).toBe('latch test');
    expect(key.secretKey.subarray(32)).toEqual(key.publicKey);
    expect(pair.publicKey.split(' ')[1]).toBe(Buffer.concat([Buffer.from('0000000b', 'hex'), Buffer.from('ssh-ed25519'), Buffer.from('00000020', 'hex'), key.publicKey]).toString('base64'));
  });

  it('refuses what is not such a key, saying what to do', () => {
    const good = newSshKeyPair().privateKey;
    const lines = good.trim().split('\n');
    const truncated = [...lines.slice(0, 2), lines.at(-1)].join('\n');
    // The seed of another key under this key's public half: the halves do not match.
    const other = parseSshPrivateKey(newSshKeyPair().privateKey);
    const mine = parseSshPrivateKey(good);
    const body = Buffer.from(lines.slice(1, -1).join(''), 'base64');
    const at = body.indexOf(Buffer.concat([mine.secretKey]));
    other.secretKey.subarray(0, 32).copy(body, at);
    const swapped = `-----BEGIN OPENSSH PRIVATE KEY-----\n${body.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;
    for (const [text, why] of [['', /not an OpenSSH private key/], ['-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----', /not an OpenSSH private key/], [truncated, /truncated|damaged/], [swapped, /do not match/]] as const) {
      expect(() => parseSshPrivateKey(text)).toThrow(SshKeyError);
      expect(() => parseSshPrivateKey(text)).toThrow(why);
      expect(() => parseSshPrivateKey(text)).toThrow(/request it again from this device/);
    }
  });
});

describe('the private key never touches disk', () => {
  it('the modules that make, keep and hand over the key have no file or process access to write it with', () => {
    for (const file of ['ssh-key.ts', 'ssh-agent.ts', 'agent.ts', 'keychain.ts']) {
      const source = readFileSync(new URL(file, import.meta.url), 'utf8');
      expect(source, file).not.toMatch(/from 'node:(fs|fs\/promises|child_process)'/);
    }
  });
});

describe.runIf(keygen)('against ssh-keygen (OpenSSH)', () => {
  it('OpenSSH loads the private key and derives the same public key from it', () => {
    const pair = newSshKeyPair();
    const file = join(dir, 'agent-made');
    writeFileSync(file, pair.privateKey, { mode: 0o600 });
    const derived = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim();
    expect(derived.split(' ').slice(0, 2)).toEqual(pair.publicKey.split(' ').slice(0, 2));
  });

  it('reads a key ssh-keygen made, with the public key of its .pub', () => {
    const file = join(dir, 'keygen-made');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'made by ssh-keygen', '-f', file]);
    const key = parseSshPrivateKey(readFileSync(file, 'utf8'));
    const pub = readFileSync(`${file}.pub`, 'utf8').trim().split(' ');
    expect(key.comment).toBe('made by ssh-keygen');
    expect(Buffer.from(pub[1]!, 'base64').subarray(-32)).toEqual(key.publicKey);
  });

  it('refuses a key with a passphrase', () => {
    const file = join(dir, 'with-passphrase');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret words', '-f', file]);
    expect(() => parseSshPrivateKey(readFileSync(file, 'utf8'))).toThrow(/it has a passphrase/);
  });
});
