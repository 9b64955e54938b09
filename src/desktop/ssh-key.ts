/**
 * The key pair of an ssh request, made in memory (DESIGN.md "Connectors": the desktop generates the
 * pair, the private key stays in the keychain). Node's crypto makes the ed25519 pair; the private
 * key is written in OpenSSH's own format (openssh-key-v1, PROTOCOL.key in OpenSSH's sources)
 * because OpenSSH 9.2 refuses an ed25519 key in PKCS#8 PEM ("invalid format"), so what the
 * keychain holds is a key `ssh-keygen -y -f` and `ssh -i` accept as it is. No file, no child
 * process: the CLI's `ssh-keygen` route (src/cli/ssh-keys.ts) would put the key on disk.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';

/** OpenSSH key format magic ("openssh-key-v1" and a NUL). */
const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const KEY_TYPE = 'ssh-ed25519';
const PEM_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const PEM_END = '-----END OPENSSH PRIVATE KEY-----';

export interface SshKeyPair {
  /** `ssh-ed25519 <base64> <comment>`: what the request carries. */
  publicKey: string;
  /** The openssh-key-v1 PEM text, unencrypted (the keychain is its protection). */
  privateKey: string;
}

/** The parts of a stored key the ssh-agent protocol wants. */
export interface Ed25519Key {
  /** 32 bytes. */
  publicKey: Buffer;
  /** 64 bytes: the seed, then the public key (OpenSSH's and NaCl's layout). */
  secretKey: Buffer;
  comment: string;
}

/** An ssh key that cannot be made or read; `message` says what to do. */
export class SshKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SshKeyError';
  }
}

/** A failure to make a key pair, as the sentence a person sees. */
export function keyPairFailure(err: unknown): SshKeyError {
  if (err instanceof SshKeyError) return err;
  return new SshKeyError(`Latch could not make an ssh key pair on this device (${err instanceof Error ? err.message : String(err)}), so nothing was requested. Restart Latch and request again, or use \`latch request\` from a terminal.`);
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** An SSH wire-format string (RFC 4251 §5): length, then bytes. */
export const sshString = (data: Buffer | string): Buffer => {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([u32(b.length), b]);
};

/** The public key blob: string "ssh-ed25519", string key. */
export const ed25519Blob = (publicKey: Buffer): Buffer => Buffer.concat([sshString(KEY_TYPE), sshString(publicKey)]);

/** A fresh ed25519 pair. `comment` ends up in the public key line and the private key. */
export function newSshKeyPair(comment = 'latch'): SshKeyPair {
  let seed: Buffer;
  let publicKey: Buffer;
  try {
    const pair = generateKeyPairSync('ed25519');
    const jwk = pair.privateKey.export({ format: 'jwk' });
    if (typeof jwk.d !== 'string' || typeof jwk.x !== 'string') throw new Error('the key has no ed25519 parts');
    seed = Buffer.from(jwk.d, 'base64url');
    publicKey = Buffer.from(jwk.x, 'base64url');
  } catch (err) {
    throw keyPairFailure(err);
  }
  const blob = ed25519Blob(publicKey);
  // Two equal random check words let a reader tell a wrong passphrase; here they only have to match.
  const check = randomBytes(4);
  let secret = Buffer.concat([check, check, sshString(KEY_TYPE), sshString(publicKey), sshString(Buffer.concat([seed, publicKey])), sshString(comment)]);
  // Padded with 1, 2, 3… to the cipher block size (8 for "none").
  const pad = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([MAGIC, sshString('none'), sshString('none'), sshString(''), u32(1), sshString(blob), sshString(secret)]);
  seed.fill(0);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return {
    publicKey: `${KEY_TYPE} ${blob.toString('base64')} ${comment}`,
    privateKey: `${PEM_BEGIN}\n${lines.join('\n')}\n${PEM_END}\n`,
  };
}

/** Reads what `newSshKeyPair` wrote (an unencrypted openssh-key-v1 ed25519 key). */
export function parseSshPrivateKey(pem: string): Ed25519Key {
  const fail = (why: string): never => {
    throw new SshKeyError(`The ssh key kept for this grant cannot be read (${why}); end the grant and request it again from this device.`);
  };
  const text = pem.trim();
  if (!text.startsWith(PEM_BEGIN) || !text.endsWith(PEM_END)) fail('not an OpenSSH private key');
  const body = Buffer.from(text.slice(PEM_BEGIN.length, -PEM_END.length).replace(/\s+/g, ''), 'base64');
  if (!body.subarray(0, MAGIC.length).equals(MAGIC)) fail('not an OpenSSH private key');
  const outer = reader(body, MAGIC.length, fail);
  if (outer.string().toString('latin1') !== 'none') fail('it has a passphrase');
  outer.string(); // kdf name
  outer.string(); // kdf options
  if (outer.u32() !== 1) fail('not exactly one key');
  outer.string(); // the public blob, repeated inside
  const secret = outer.string();
  const inner = reader(secret, 0, fail);
  if (inner.u32() !== inner.u32()) fail('damaged');
  const type = inner.string().toString('latin1');
  if (type !== KEY_TYPE) fail(`a ${type} key, not ed25519`);
  const publicKey = inner.string();
  const secretKey = inner.string();
  const comment = inner.string();
  if (publicKey.length !== 32 || secretKey.length !== 64 || !secretKey.subarray(32).equals(publicKey)) fail('damaged');
  if (!publicKeyOfSeed(secretKey.subarray(0, 32)).equals(publicKey)) fail('its two halves do not match');
  return { publicKey: Buffer.from(publicKey), secretKey: Buffer.from(secretKey), comment: comment.toString('utf8') };
}

/** Reads SSH wire-format fields in order; `fail` throws on data that runs short. */
function reader(buf: Buffer, start: number, fail: (why: string) => never) {
  let at = start;
  const u32 = (): number => {
    if (at + 4 > buf.length) fail('truncated');
    at += 4;
    return buf.readUInt32BE(at - 4);
  };
  return {
    u32,
    string(): Buffer {
      const n = u32();
      if (at + n > buf.length) fail('truncated');
      at += n;
      return buf.subarray(at - n, at);
    },
  };
}

/** The ed25519 public key of a 32-byte seed (a PKCS#8 wrapping of the seed, RFC 8410). */
function publicKeyOfSeed(seed: Buffer): Buffer {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const x = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' }).x;
  return Buffer.from(x ?? '', 'base64url');
}
