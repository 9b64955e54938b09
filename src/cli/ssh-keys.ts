/**
 * Key pairs for ssh grants. `latch request` makes a fresh ed25519 pair per request with the local
 * `ssh-keygen` in `$LATCH_HOME/ssh/` and sends only the public half; the private key never leaves
 * this device (DESIGN.md "Connectors"). `$LATCH_HOME/ssh/keys.json` (no secrets) remembers which
 * key belongs to which request and grant, so `latch credential` can put the certificate next to it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { own } from '../shared/own.js';
import { displayPath } from './credentials.js';
import { CliError } from './errors.js';
import { latchHome } from './paths.js';

const indexSchema = z.object({
  requests: z.record(z.string(), z.string()),
  grants: z.record(z.string(), z.string()),
});
type Index = z.infer<typeof indexSchema>;

export class SshKeys {
  constructor(readonly home: string) {}

  static fromEnv(): SshKeys {
    return new SshKeys(latchHome());
  }

  get dir(): string {
    return join(this.home, 'ssh');
  }

  private get indexPath(): string {
    return join(this.dir, 'keys.json');
  }

  /** Makes a key pair (`ssh-keygen -t ed25519 -N ''`, private key 0600); returns its path and public key. */
  async create(): Promise<{ key: string; publicKey: string }> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const key = join(this.dir, `latch-${randomBytes(6).toString('hex')}`);
    await new Promise<void>((resolve, reject) => {
      execFile('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `latch ${new Date().toISOString()}`, '-f', key], { timeout: 20_000 }, (err, _out, stderr) => {
        if (!err) return resolve();
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') reject(new CliError('this resource uses ssh certificates and `ssh-keygen` is not installed here; install OpenSSH (e.g. apt-get install openssh-client) and request again'));
        else reject(new CliError(`ssh-keygen could not make a key pair in ${displayPath(this.dir)} (${String(stderr).trim() || err.message})`));
      });
    });
    return { key, publicKey: readFileSync(`${key}.pub`, 'utf8').trim() };
  }

  /** Records the key of a request and, once known, of its grant. */
  remember(key: string, ids: { requestId?: string | null | undefined; grantId?: string | null | undefined }): void {
    const index = this.readIndex();
    if (ids.requestId) index.requests[ids.requestId] = key;
    if (ids.grantId) index.grants[ids.grantId] = key;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.indexPath}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(index, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.indexPath);
  }

  /** The private key made for a grant (looked up by grant, else by the request that made it), if it is here. */
  keyFor(grantId: string, requestId?: string): string | null {
    const index = this.readIndex();
    const key = own(index.grants, grantId) ?? (requestId === undefined ? undefined : own(index.requests, requestId));
    return key !== undefined && existsSync(key) ? key : null;
  }

  /** Removes a key pair that was never used (its request failed). */
  discard(key: string): void {
    rmSync(key, { force: true });
    rmSync(`${key}.pub`, { force: true });
  }

  /** Writes the certificate next to its key, as `ssh` looks for it (`KEY-cert.pub`); returns the path. */
  writeCertificate(key: string, certificate: string): string {
    const cert = `${key}-cert.pub`;
    const tmp = `${cert}.${process.pid}.tmp`;
    writeFileSync(tmp, `${certificate.trim()}\n`, { mode: 0o600 });
    renameSync(tmp, cert);
    return cert;
  }

  private readIndex(): Index {
    if (!existsSync(this.indexPath)) return { requests: {}, grants: {} };
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.indexPath, 'utf8'));
    } catch {
      raw = undefined;
    }
    const parsed = indexSchema.safeParse(raw);
    if (!parsed.success) throw new CliError(`${displayPath(this.indexPath)} is not a Latch ssh key index; move it away (keys stay in ${displayPath(this.dir)})`);
    return parsed.data;
  }
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/**
 * The server's `ssh [-p PORT] USER@HOST` with this device's key and certificate. IdentitiesOnly
 * keeps ssh from offering every agent key first and hitting the host's MaxAuthTries.
 */
export function sshCommand(serverCommand: string, key: string, cert: string): string {
  const rest = serverCommand.replace(/^ssh\s+/, '');
  return `ssh -i ${shellQuote(key)} -o CertificateFile=${shellQuote(cert)} -o IdentitiesOnly=yes ${rest}`;
}
