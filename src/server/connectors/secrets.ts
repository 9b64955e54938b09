/**
 * Secrets in connector config are never written in the config file: it names an environment
 * variable (`passwordEnv`) or a file (`passwordFile`) that holds them.
 */
import { readFileSync } from 'node:fs';
import { own } from '../../shared/own.js';

export interface SecretRef {
  env?: string | undefined;
  file?: string | undefined;
}

/** Reads a secret; the error names where it looked, never the value. */
export function readSecret(ref: SecretRef, what: string): string {
  if (ref.env) {
    const v = own(process.env, ref.env);
    if (v === undefined || v === '') throw new Error(`${what}: environment variable ${ref.env} is not set`);
    return v;
  }
  if (ref.file) {
    try {
      return readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new Error(`${what}: cannot read ${ref.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  throw new Error(`${what}: give the secret's environment variable or file`);
}
