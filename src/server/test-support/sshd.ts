/**
 * A throwaway OpenSSH `sshd` for integration tests: a loopback port, host key and config in a temp
 * dir, trusting a given user CA (`TrustedUserCAKeys`) and checking a KRL file (`RevokedKeys`) that
 * the test rewrites the way a host's refresh job would. Logins go through the real `ssh` client.
 * sshd must run as root to switch to the test user; `faketimeOffset` runs it with its clock moved
 * (libfaketime) to play a host whose clock is off (FIELD-CASES B30).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';

export const SSHD_BIN = process.env.LATCH_SSHD_BIN ?? '/usr/sbin/sshd';
export const SSH_TEST_USER = 'latchssh';
const FAKETIME_LIBS = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1'];

const runs = (cmd: string, args: string[]): boolean => {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch (err) {
    // `ssh -V` exits 0, but some builds exit non-zero on -V; only "not found" means missing.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
};

/** What is missing to run sshd tests here, or null. */
export function sshdUnavailable(): string | null {
  if (!existsSync(SSHD_BIN)) return `OpenSSH server (${SSHD_BIN}; apt-get install openssh-server)`;
  if (!runs('ssh', ['-V'])) return 'the OpenSSH client `ssh` (apt-get install openssh-client)';
  if (!runs('ssh-keygen', ['-?'])) return '`ssh-keygen` (apt-get install openssh-client)';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'root (sshd switches to a test user on login)';
  return null;
}

/** The libfaketime library to preload, or null when it is not installed. */
export function faketimeLibrary(): string | null {
  return FAKETIME_LIBS.find((p) => existsSync(p)) ?? null;
}

/** Creates the local login user the certificates name (no password: key/certificate logins only). */
export function ensureTestUser(user = SSH_TEST_USER): void {
  try {
    execFileSync('id', [user], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-m', '-s', '/bin/sh', user], { stdio: 'pipe' });
  }
  // useradd leaves the password field "!", which sshd (without PAM) reads as a locked account.
  execFileSync('usermod', ['-p', '*', user], { stdio: 'pipe' });
}

export { freePort } from './net.js';

export interface LoginResult {
  ok: boolean;
  code: number;
  stdout: string;
  stderr: string;
}

export interface Sshd {
  port: number;
  dir: string;
  /** Everything sshd logged (LogLevel VERBOSE): why a login was refused. */
  log(): string;
  /** Replaces the KRL sshd checks (what `curl …/v1/ssh/krl -o latch.krl.new && mv` does on a host). */
  setKrl(krl: Buffer): void;
  /** Logs in as the test user with a key and its certificate and runs `echo ok`. */
  login(keyFile: string, certFile: string): Promise<LoginResult>;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** The user CA public key line(s), as `/v1/ssh/ca.pub` serves them. */
  caPublicKey: string;
  krl: Buffer;
  port?: number;
  /** libfaketime offset for sshd's clock, e.g. `-30s` for a host whose clock is 30 s behind. */
  faketimeOffset?: string;
  user?: string;
}

export async function startSshd(opts: SshdOptions): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), 'latch-sshd-'));
  const port = opts.port ?? (await freePort());
  const user = opts.user ?? SSH_TEST_USER;
  const caFile = join(dir, 'latch_ca.pub');
  const krlFile = join(dir, 'latch.krl');
  const pidFile = join(dir, 'sshd.pid');
  const config = join(dir, 'sshd_config');
  // Privilege separation needs its empty chroot directory.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_ed25519')], { stdio: 'pipe' });
  writeFileSync(caFile, opts.caPublicKey);
  writeFileSync(krlFile, opts.krl);
  writeFileSync(config, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host_ed25519')}`, `PidFile ${pidFile}`,
    `TrustedUserCAKeys ${caFile}`, `RevokedKeys ${krlFile}`,
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes', 'AuthorizedKeysFile none',
    'UsePAM no', 'StrictModes no', `AllowUsers ${user}`, 'LogLevel VERBOSE', '',
  ].join('\n'));

  const env: NodeJS.ProcessEnv = { ...process.env };
  if (opts.faketimeOffset !== undefined) {
    const lib = faketimeLibrary();
    if (lib === null) throw new Error('libfaketime is not installed (apt-get install faketime)');
    // Preloaded directly rather than through the `faketime` wrapper, so the pid is sshd's own.
    Object.assign(env, { LD_PRELOAD: lib, FAKETIME: opts.faketimeOffset });
  }
  const child: ChildProcess = spawn(SSHD_BIN, ['-D', '-e', '-f', config], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`sshd did not start within 10 s:\n${log}`)), 10_000);
    const check = () => {
      if (log.includes('Server listening on')) {
        clearTimeout(deadline);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(deadline);
      reject(new Error(`sshd exited (${code}) at start:\n${log}`));
    });
    check();
  });

  return {
    port, dir,
    log: () => log,
    setKrl(krl) {
      const tmp = `${krlFile}.new`;
      writeFileSync(tmp, krl);
      execFileSync('mv', [tmp, krlFile]);
    },
    login(keyFile, certFile) {
      const args = [
        '-F', '/dev/null', '-i', keyFile, '-o', `CertificateFile=${certFile}`, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
        '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10', '-p', String(port), `${user}@127.0.0.1`, 'echo ok',
      ];
      return new Promise((resolve) => {
        execFile('ssh', args, { timeout: 20_000, encoding: 'utf8' }, (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
          resolve({ ok: code === 0 && stdout.trim() === 'ok', code, stdout, stderr });
        });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `ssh-keygen` is all the connector's unit tests need. */
export function sshKeygenUnavailable(): string | null {
  return runs('ssh-keygen', ['-?']) ? null : '`ssh-keygen` (apt-get install openssh-client)';
}

/** A fresh key pair made the way the CLI makes one; returns the private key path (`.pub` next to it). */
export function newKeyPair(dir: string, name: string, type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519', bits?: number): { key: string; publicKey: string } {
  const key = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', `${name}@test`, '-f', key], { stdio: 'pipe' });
  return { key, publicKey: readFileSync(`${key}.pub`, 'utf8').trim() };
}

export interface CertInfo {
  keyId: string;
  serial: string;
  /** Epoch seconds, as `ssh-keygen -L` shows them read in UTC. */
  validAfter: number;
  validBefore: number;
  principals: string[];
  criticalOptions: string[];
  extensions: string[];
  /** The `Valid:` line as printed with TZ=UTC. */
  validLine: string;
}

/** What `ssh-keygen -L` (run with TZ=UTC) says about a certificate. */
export function certInfo(certificate: string): CertInfo {
  const dir = mkdtempSync(join(tmpdir(), 'latch-cert-'));
  try {
    const file = join(dir, 'key-cert.pub');
    writeFileSync(file, `${certificate.trim()}\n`);
    const out = execFileSync('ssh-keygen', ['-L', '-f', file], { env: { ...process.env, TZ: 'UTC' }, encoding: 'utf8' });
    const field = (name: string) => new RegExp(`^ *${name}: (.*)$`, 'm').exec(out)?.[1]?.trim() ?? '';
    const list = (name: string) => {
      const m = new RegExp(`^ *${name}: *(\\(none\\))?\\n((?: {16}.*\\n)*)`, 'm').exec(out);
      return m?.[1] ? [] : (m?.[2] ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
    };
    const valid = /from (\S+) to (\S+)/.exec(field('Valid'));
    if (!valid) throw new Error(`unexpected ssh-keygen -L output:\n${out}`);
    const epoch = (s: string) => Date.parse(`${s}Z`) / 1000;
    return {
      keyId: field('Key ID').replace(/^"|"$/g, ''), serial: field('Serial'), validAfter: epoch(valid[1]!), validBefore: epoch(valid[2]!),
      principals: list('Principals'), criticalOptions: list('Critical Options'), extensions: list('Extensions'), validLine: field('Valid'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
