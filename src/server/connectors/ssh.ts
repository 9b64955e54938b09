/**
 * `ssh`: the server holds an SSH certificate authority and signs the requester's public key (made on
 * their device; the private key never leaves it) into a user certificate with the resource's
 * principals, valid from slightly before activation to exactly the grant end (FIELD-CASES B30).
 *
 * A certificate cannot be recalled, so ending a grant early lists its key id (= the grant id) in a
 * key revocation list (KRL) that hosts fetch from `/v1/ssh/krl` into their `RevokedKeys` file.
 * Hosts trust the CA published at `/v1/ssh/ca.pub` (`TrustedUserCAKeys`). docs/connectors/ssh.md.
 *
 * The certificate and KRL formats are made by the `ssh-keygen` binary, the trusted implementation.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../../shared/clock.js';
import { own } from '../../shared/own.js';
import { ConnectorConfigError, type Connector, type GrantTarget, type Provisioned, type PublicFile, type RequestInput } from './types.js';

export const SSH_CA_ROUTE = '/v1/ssh/ca.pub';
export const SSH_KRL_ROUTE = '/v1/ssh/krl';

/** How long an id stays in the KRL after its certificate ended: covers hosts whose clocks run behind. */
export const KRL_KEEP_AFTER_END_MS = 24 * 3600_000;
const SSH_KEYGEN_TIMEOUT_MS = 20_000;

// ---- config ---------------------------------------------------------------------------------

// Principals are joined with commas for `ssh-keygen -n`, so no commas, spaces or control characters.
const principal = z.string().regex(/^[^\s,\u0000-\u001f\u007f]{1,256}$/, 'a principal is 1–256 characters without spaces or commas');
const principalList = z.array(principal).min(1, 'give at least one principal').max(256);

const configSchema = z
  .strictObject({
    /** The principals (login names on the hosts) every role of the resource gets. */
    principals: principalList.optional(),
    /** Per role, instead of `principals`. */
    principalsByRole: z.record(z.string(), principalList).optional(),
    /** Shown to the grantee in the ssh command; no effect on the certificate. */
    host: z.string().regex(/^[A-Za-z0-9.:[\]_-]{1,253}$/, 'a host name or address').optional(),
    port: z.number().int().min(1).max(65_535).optional(),
    user: principal.optional(),
    /** The certificate starts this long before activation, for hosts whose clock is behind (B30). */
    backdateSeconds: z.number().int().min(0).max(3600).default(60),
    forwarding: z
      .strictObject({ agent: z.boolean().default(false), port: z.boolean().default(false), x11: z.boolean().default(false) })
      .default({ agent: false, port: false, x11: false }),
    /** A CA private key kept elsewhere (mode 0600); default: `<dataDir>/ssh_ca`, made on first start. */
    caKeyFile: z.string().min(1).optional(),
  })
  .refine((c) => (c.principals === undefined) !== (c.principalsByRole === undefined), {
    message: 'give either principals (for every role) or principalsByRole ({ role: [principals] }), not both',
  });
export type SshConfig = z.infer<typeof configSchema>;

function parseConfig(config: Record<string, unknown>, resource: string): SshConfig {
  const parsed = configSchema.safeParse(config);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')} (the ssh connector takes principals, principalsByRole, host, port, user, backdateSeconds, forwarding, caKeyFile)`;
    }
    const key = issue.path.join('.');
    return `${key === '' ? '' : `${key}: `}${issue.message}`;
  });
  // Placed on the first problem's key; the message lists them all.
  const first = parsed.error.issues[0]!;
  const key = first.code === 'unrecognized_keys' ? [...first.path, first.keys[0]!].join('.') : first.path.join('.');
  throw new ConnectorConfigError(`resource ${resource}: ${problems.join('; ')}`, key === '' ? null : key, problems.join('; '));
}

function principalsFor(config: SshConfig, resource: string, role: string): string[] | string {
  const list = config.principals ?? (config.principalsByRole && own(config.principalsByRole, role));
  return list ?? `resource ${resource}: role ${role} has no principals in principalsByRole; ask an admin to add it to the config`;
}

// ---- public keys ----------------------------------------------------------------------------

const KEY_TYPES = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa',
  'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;
type KeyType = (typeof KEY_TYPES)[number];
const MIN_RSA_BITS = 2048;
const EC_POINT_BYTES: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };

/** The SSH wire-format strings of a key blob (RFC 4251 §5), or null when it is not one. */
function wireStrings(blob: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  let at = 0;
  while (at < blob.length) {
    if (at + 4 > blob.length) return null;
    const n = blob.readUInt32BE(at);
    at += 4;
    if (at + n > blob.length) return null;
    out.push(blob.subarray(at, at + n));
    at += n;
  }
  return out;
}

function mpintBits(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  return i === n.length ? 0 : (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]!));
}

/** Whether the blob has the fields its type needs (what OpenSSH would parse), else why not. */
function blobProblem(type: KeyType, parts: Buffer[]): string | null {
  const name = parts[0]?.toString('latin1');
  if (name !== type) return `its key data says "${name ?? ''}", not ${type}`;
  const ecPoint = (curve: Buffer | undefined, point: Buffer | undefined, want: string) =>
    curve?.toString('latin1') === want && point !== undefined && point.length === EC_POINT_BYTES[want] && point[0] === 4;
  switch (type) {
    case 'ssh-ed25519':
      return parts.length === 2 && parts[1]!.length === 32 ? null : 'the ed25519 key data is malformed';
    case 'sk-ssh-ed25519@openssh.com':
      return parts.length === 3 && parts[1]!.length === 32 && parts[2]!.length > 0 ? null : 'the security-key data is malformed';
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
      return parts.length === 3 && ecPoint(parts[1], parts[2], type.slice('ecdsa-sha2-'.length)) ? null : 'the ECDSA key data is malformed';
    case 'sk-ecdsa-sha2-nistp256@openssh.com':
      return parts.length === 4 && ecPoint(parts[1], parts[2], 'nistp256') && parts[3]!.length > 0 ? null : 'the security-key data is malformed';
    case 'ssh-rsa': {
      if (parts.length !== 3) return 'the RSA key data is malformed';
      const bits = mpintBits(parts[2]!);
      return bits >= MIN_RSA_BITS ? null : `the RSA key has ${bits} bits; use ed25519 (or RSA of at least ${MIN_RSA_BITS} bits)`;
    }
    default: {
      const never: never = type;
      return `unsupported key type ${String(never)}`;
    }
  }
}

export type PublicKeyCheck = { ok: true; line: string; type: KeyType } | { ok: false; problem: string };

/**
 * Checks an OpenSSH public key strictly (`TYPE BASE64 [comment]`, one line, a supported type, a
 * well-formed blob). `line` is the key without its comment, which is what gets signed.
 */
export function checkPublicKey(text: string | null | undefined): PublicKeyCheck {
  const hint = 'send the .pub file of a key made with `ssh-keygen -t ed25519` (`latch request` makes one for you)';
  if (text === null || text === undefined || text.trim() === '') return { ok: false, problem: `publicKey is missing: an ssh resource needs your OpenSSH public key; ${hint}` };
  const t = text.trim();
  if (/PRIVATE KEY/.test(t)) return { ok: false, problem: 'publicKey holds a PRIVATE key; never send it anywhere — send the public key (the .pub file) instead' };
  if (/[\r\n]/.test(t)) return { ok: false, problem: `publicKey must be one key on one line; ${hint}` };
  const [type, b64] = t.split(/[ \t]+/);
  if (type?.endsWith('-cert-v01@openssh.com')) return { ok: false, problem: 'publicKey is a certificate; send the plain public key it was made from' };
  if (!(KEY_TYPES as readonly string[]).includes(type ?? '')) {
    return { ok: false, problem: `publicKey is not an OpenSSH public key of a supported type (${KEY_TYPES.join(', ')}); ${hint}` };
  }
  if (b64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || Buffer.from(b64, 'base64').toString('base64') !== b64) {
    return { ok: false, problem: `publicKey: the part after "${type}" is not valid base64; ${hint}` };
  }
  const parts = wireStrings(Buffer.from(b64, 'base64'));
  const problem = parts === null ? 'its key data is truncated' : blobProblem(type as KeyType, parts);
  if (problem) return { ok: false, problem: `publicKey is not a usable ${type} key: ${problem}` };
  return { ok: true, line: `${type} ${b64}`, type: type as KeyType };
}

// ---- certificate window ---------------------------------------------------------------------

/**
 * The certificate's validity in whole seconds (B30): from `startsAt - backdate` to the grant end
 * floored to the second. OpenSSH treats `valid_before` as exclusive, so the certificate stops
 * working at the grant end and never a second later.
 */
export function certWindow(startsAt: number, expiresAt: number, backdateSeconds: number): { validAfter: number; validBefore: number } {
  return { validAfter: Math.floor(startsAt / 1000) - backdateSeconds, validBefore: Math.floor(expiresAt / 1000) };
}

/** `YYYYMMDDHHMMSSZ`: `ssh-keygen -V` reads the `Z` as UTC, so the signer's TZ never matters (B30). */
export function sshTime(epochSeconds: number): string {
  return `${new Date(epochSeconds * 1000).toISOString().slice(0, 19).replace(/[-:T]/g, '')}Z`;
}

/** A random non-zero 63-bit serial (decimal, as `ssh-keygen -z` takes it). */
function randomSerial(): string {
  const n = randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn;
  return (n === 0n ? 1n : n).toString();
}

// ---- the connector --------------------------------------------------------------------------

interface Ca {
  keyFile: string;
  /** The public key line (`type base64 comment`). */
  publicKey: string;
}

const revokedSchema = z.object({
  version: z.literal(1),
  revoked: z.array(z.object({ keyId: z.string(), caPublicKey: z.string(), certEnd: z.string() })),
});
type RevokedList = z.infer<typeof revokedSchema>;

export interface SshConnectorOptions {
  dataDir: string;
  log?: Logger;
  /** Reads "now" for pruning the revoked list; default the system clock. */
  clock?: Pick<Clock, 'now'>;
  /** Environment of the `ssh-keygen` runs (tests run it under another TZ, B30). */
  env?: NodeJS.ProcessEnv;
  sshKeygen?: string;
}

export function sshConnector(opts: SshConnectorOptions): Connector & { readonly paths: { defaultCa: string; krl: string; revoked: string } } {
  const sshKeygen = opts.sshKeygen ?? 'ssh-keygen';
  const env = opts.env ?? process.env;
  const now = () => (opts.clock ?? { now: Date.now }).now();
  const paths = { defaultCa: join(opts.dataDir, 'ssh_ca'), krl: join(opts.dataDir, 'ssh.krl'), revoked: join(opts.dataDir, 'ssh_revoked.json') };
  /** The CAs that current resources sign with, by key file: what `/v1/ssh/ca.pub` publishes. */
  const inUse = new Map<string, Ca>();
  let krlQueue: Promise<unknown> = Promise.resolve();

  const keygenFailure = (err: unknown, what: string): Error => {
    const e = err as NodeJS.ErrnoException & { stderr?: string | Buffer };
    if (e.code === 'ENOENT') return new Error(`${what}: ssh-keygen is not installed on the Latch server (install OpenSSH's client tools, e.g. apt-get install openssh-client)`);
    const stderr = String(e.stderr ?? '').trim().split('\n').filter(Boolean).pop();
    return new Error(`${what}: ssh-keygen failed (${stderr || e.message})`);
  };

  const keygen = (args: string[], what: string): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(sshKeygen, args, { env, timeout: SSH_KEYGEN_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err) reject(keygenFailure(Object.assign(err, { stderr }), what));
        else resolve(stdout);
      });
    });

  const keygenSync = (args: string[], what: string): string => {
    try {
      return execFileSync(sshKeygen, args, { env, timeout: SSH_KEYGEN_TIMEOUT_MS, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      throw keygenFailure(err, what);
    }
  };

  /**
   * The public half of a CA key, derived from the private key (`ssh-keygen -y`), never read from a
   * `.pub` beside it: a stale `.pub` would publish one CA and list revocations under it while
   * certificates are signed by another, and the KRL would silently revoke nothing.
   */
  /** `key`: the config key that names `keyFile` (caKeyFile), when a resource's config does. */
  const loadCa = (keyFile: string, what: string, key: string | null = null): Ca => {
    const fail = (detail: string) => (key === null ? new Error(`${what}: ${detail}`) : new ConnectorConfigError(`${what}: ${detail}`, key, detail));
    try {
      accessSync(keyFile, constants.R_OK);
    } catch (err) {
      throw fail(`cannot read ${keyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const line = keygenSync(['-y', '-f', keyFile], what).trim().split('\n')[0]!.trim();
    const check = checkPublicKey(line);
    if (!check.ok) throw fail(`${keyFile} is not an SSH CA key (${check.problem})`);
    return { keyFile, publicKey: line };
  };

  /** The data-dir CA, generated on first use (the first start of a server with an ssh resource). */
  const defaultCa = (): Ca => {
    const known = inUse.get(paths.defaultCa);
    if (known) return known;
    if (!existsSync(paths.defaultCa)) {
      mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
      keygenSync(['-q', '-t', 'ed25519', '-N', '', '-C', 'latch-ca', '-f', paths.defaultCa], `cannot create the SSH CA ${paths.defaultCa}`);
      opts.log?.info({ file: paths.defaultCa }, 'generated the SSH certificate authority');
    }
    // ssh-keygen refuses a private key others can read; make sure of the mode whoever made it.
    chmodSync(paths.defaultCa, 0o600);
    const ca = loadCa(paths.defaultCa, 'the SSH CA');
    inUse.set(ca.keyFile, ca);
    return ca;
  };

  const caFor = (config: SshConfig, resource: string, fresh = false): Ca => {
    if (config.caKeyFile === undefined) return defaultCa();
    const known = inUse.get(config.caKeyFile);
    if (known && !fresh) return known;
    const ca = loadCa(config.caKeyFile, `resource ${resource}: caKeyFile`, 'caKeyFile');
    inUse.set(ca.keyFile, ca);
    return ca;
  };

  const sign = async (t: GrantTarget): Promise<Provisioned> => {
    const config = parseConfig(t.config, t.resource);
    const principals = principalsFor(config, t.resource, t.role);
    if (typeof principals === 'string') throw new Error(principals);
    const key = checkPublicKey(t.publicKey);
    if (!key.ok) throw new Error(`grant ${t.grantId}: ${key.problem}`);
    const ca = caFor(config, t.resource);
    const window = certWindow(t.startsAt, t.expiresAt, config.backdateSeconds);
    if (window.validBefore <= window.validAfter) throw new Error(`grant ${t.grantId}: the access window ends before it starts`);
    const serial = randomSerial();
    const options = ['-O', 'clear', '-O', 'permit-pty'];
    if (config.forwarding.agent) options.push('-O', 'permit-agent-forwarding');
    if (config.forwarding.port) options.push('-O', 'permit-port-forwarding');
    if (config.forwarding.x11) options.push('-O', 'permit-X11-forwarding');

    const dir = await mkdtemp(join(tmpdir(), 'latch-ssh-'));
    try {
      const pub = join(dir, 'key.pub');
      await writeFile(pub, `${key.line}\n`, { mode: 0o600 });
      await keygen(
        ['-q', '-s', ca.keyFile, '-I', t.grantId, '-n', principals.join(','), '-z', serial, '-V', `${sshTime(window.validAfter)}:${sshTime(window.validBefore)}`, ...options, pub],
        `signing the SSH certificate of grant ${t.grantId}`,
      );
      const certificate = (await readFile(join(dir, 'key-cert.pub'), 'utf8')).trim();
      const user = config.user ?? principals[0]!;
      const port = config.port !== undefined && config.port !== 22 ? `-p ${config.port} ` : '';
      return {
        credential: {
          type: 'ssh', certificate, principals, keyId: t.grantId, serial,
          validAfter: new Date(window.validAfter * 1000).toISOString(),
          validBefore: new Date(window.validBefore * 1000).toISOString(),
          command: `ssh ${port}${user}@${config.host ?? 'HOST'}`,
        },
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  const readRevoked = async (): Promise<RevokedList> => {
    let text: string;
    try {
      text = await readFile(paths.revoked, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, revoked: [] };
      throw err;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      raw = undefined;
    }
    const parsed = revokedSchema.safeParse(raw);
    // Never start over silently: that would un-revoke certificates that are still valid.
    if (!parsed.success) throw new Error(`${paths.revoked} is not a Latch revoked-certificate list; restore it from a backup (revokes retry until it is readable)`);
    return parsed.data;
  };

  const writeAtomically = async (path: string, data: string | Buffer): Promise<void> => {
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, data, { mode: 0o644 });
      await rename(tmp, path);
    } finally {
      await rm(tmp, { force: true });
    }
  };

  /** Rebuilds the KRL from the list: one `ssh-keygen -k` per CA, into a temp file renamed over the old. */
  const buildKrl = async (list: RevokedList): Promise<void> => {
    const byCa = new Map<string, string[]>();
    for (const r of list.revoked) byCa.set(r.caPublicKey, [...(byCa.get(r.caPublicKey) ?? []), r.keyId]);
    const dir = await mkdtemp(join(tmpdir(), 'latch-krl-'));
    const out = `${paths.krl}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      const version = String(Math.floor(now() / 1000));
      if (byCa.size === 0) await keygen(['-q', '-k', '-z', version, '-f', out], 'building the SSH revocation list');
      let i = 0;
      for (const [caKey, ids] of byCa) {
        const caFile = join(dir, `ca${i}.pub`);
        const spec = join(dir, `spec${i}`);
        await writeFile(caFile, `${caKey}\n`);
        await writeFile(spec, ids.map((id) => `id: ${id}\n`).join(''));
        await keygen(['-q', '-k', ...(i > 0 ? ['-u'] : []), '-z', version, '-f', out, '-s', caFile, spec], 'building the SSH revocation list');
        i++;
      }
      await rename(out, paths.krl);
    } finally {
      await rm(out, { force: true });
      await rm(dir, { recursive: true, force: true });
    }
  };

  /** KRL work runs one at a time: concurrent revokes must not lose each other's ids. */
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = krlQueue.then(fn, fn);
    krlQueue = run.catch(() => undefined);
    return run;
  };

  const publicFiles: Record<string, PublicFile> = {
    [SSH_CA_ROUTE]: {
      contentType: 'text/plain; charset=utf-8',
      async body() {
        if (inUse.size === 0) defaultCa();
        return [...inUse.values()].map((ca) => `${ca.publicKey}\n`).join('');
      },
    },
    [SSH_KRL_ROUTE]: {
      contentType: 'application/octet-stream',
      async body() {
        if (!existsSync(paths.krl)) await serially(async () => existsSync(paths.krl) || buildKrl(await readRevoked()));
        return readFile(paths.krl);
      },
    },
  };

  return {
    kind: 'ssh',
    paths,
    publicFiles,
    checkConfig(config, resource) {
      const parsed = parseConfig(config, resource);
      // Loads (or, on first start, generates) the CA now, so a missing ssh-keygen or unreadable
      // caKeyFile stops the server at start instead of failing the first grant.
      caFor(parsed, resource, true);
    },
    checkRequest(input: RequestInput) {
      const config = parseConfig(input.config, input.resource);
      const principals = principalsFor(config, input.resource, input.role);
      if (typeof principals === 'string') return principals;
      const key = checkPublicKey(input.publicKey);
      return key.ok ? null : key.problem;
    },
    provision: sign,
    extend: sign,
    async revoke(t) {
      const config = parseConfig(t.config, t.resource);
      const ca = caFor(config, t.resource);
      const certEnd = new Date(Math.floor(t.expiresAt / 1000) * 1000).toISOString();
      await serially(async () => {
        const list = await readRevoked();
        const cutoff = now() - KRL_KEEP_AFTER_END_MS;
        const same = (r: RevokedList['revoked'][number]) => r.keyId === t.grantId && r.caPublicKey === ca.publicKey;
        const prior = list.revoked.find(same);
        // Revoking twice keeps one entry, with the later end (an extension may have moved it).
        const entry = { keyId: t.grantId, caPublicKey: ca.publicKey, certEnd: prior && Date.parse(prior.certEnd) > Date.parse(certEnd) ? prior.certEnd : certEnd };
        // Ids whose certificate has been expired for a while are pruned: no host accepts them anyway.
        const revoked = [...list.revoked.filter((r) => !same(r)), entry].filter((r) => Date.parse(r.certEnd) > cutoff);
        const next: RevokedList = { version: 1, revoked };
        await writeAtomically(paths.revoked, `${JSON.stringify(next, null, 2)}\n`);
        await buildKrl(next);
      });
      return { audit: { krl: 'listed', keyId: t.grantId } };
    },
  };
}
