/**
 * The server's keys, generated into the data dir on first start (0600): the access-token signing
 * secret, the access-pass signing key pair (published as JWKS), and the key that encrypts
 * credentials at rest.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

export interface ServerKeys {
  tokenSecret: Uint8Array;
  passKid: string;
  passPrivate: webcrypto.CryptoKey;
  passPublicJwk: JWK;
  sealer: Sealer;
}

function writeSecretFile(file: string, content: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, file);
}

function loadOrCreate(file: string, create: () => Promise<string>): Promise<string> {
  if (existsSync(file)) return Promise.resolve(readFileSync(file, 'utf8'));
  return create().then((content) => {
    writeSecretFile(file, content);
    return content;
  });
}

export async function loadKeys(dataDir: string): Promise<ServerKeys> {
  const tokenSecret = Buffer.from(await loadOrCreate(join(dataDir, 'token.key'), async () => randomBytes(32).toString('base64')), 'base64');
  const sealKey = Buffer.from(await loadOrCreate(join(dataDir, 'credentials.key'), async () => randomBytes(32).toString('base64')), 'base64');
  const passJwk = JSON.parse(
    await loadOrCreate(join(dataDir, 'pass-key.json'), async () => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      const jwk = await exportJWK(privateKey);
      return JSON.stringify({ ...jwk, kid: `latch-${randomBytes(6).toString('hex')}`, alg: 'ES256', use: 'sig' });
    }),
  ) as JWK & { kid: string };
  const passPrivate = (await importJWK(passJwk, 'ES256')) as webcrypto.CryptoKey;
  const { d: _d, ...publicJwk } = passJwk;
  return { tokenSecret, passKid: passJwk.kid, passPrivate, passPublicJwk: publicJwk, sealer: new Sealer(sealKey) };
}

/** AES-256-GCM for credentials at rest; each value gets its own nonce. */
export class Sealer {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the credentials key must be 32 bytes');
  }

  seal(plain: string, context: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(context));
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return ['v1', iv.toString('base64'), c.getAuthTag().toString('base64'), body.toString('base64')].join('.');
  }

  open(sealed: string, context: string): string {
    const [v, iv, tag, body] = sealed.split('.');
    if (v !== 'v1' || !iv || !tag || body === undefined) throw new Error('unknown sealed credential format');
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    d.setAAD(Buffer.from(context));
    d.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(body, 'base64')), d.final()]).toString('utf8');
  }
}
