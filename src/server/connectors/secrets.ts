/**
 * Secrets in connector config are never written in the config file: it names an environment
 * variable (`passwordEnv`) or a file (`passwordFile`) that holds them.
 */
import { readFileSync } from 'node:fs';
import { own } from '../../shared/own.js';
import { ConnectorConfigError } from './types.js';

export interface SecretRef {
  env?: string | undefined;
  file?: string | undefined;
}

/**
 * Reads a secret; the error names where it looked, never the value. `key`: the config key that
 * names it (`secretEnv`…), for a ConnectorConfigError the loader can place.
 */
export function readSecret(ref: SecretRef, what: string, key: { env: string; file: string } | null = null): string {
  const fail = (which: 'env' | 'file' | null, detail: string) => new ConnectorConfigError(`${what}: ${detail}`, key === null || which === null ? null : key[which], detail);
  if (ref.env) {
    const v = own(process.env, ref.env);
    if (v === undefined || v === '') throw fail('env', `environment variable ${ref.env} is not set`);
    return v;
  }
  if (ref.file) {
    try {
      return readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw fail('file', `cannot read ${ref.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  throw fail(null, "give the secret's environment variable or file");
}
