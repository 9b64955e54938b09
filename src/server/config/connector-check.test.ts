/**
 * Each built-in connector's complaint about a resource's config lands on the key it is about,
 * whichever way that connector words it, with the file and line (FIELD: issue 2, "the key and
 * line that is wrong").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtInConnectors } from '../connectors/registry.js';
import type { Connector } from '../connectors/types.js';
import { loadKeys } from '../keys.js';
import pino from 'pino';
import { connectorProblems, locateConnectorProblem } from './connector-check.js';
import { ConfigError, parseConfig, type ConfigProblem } from './load.js';

let dir: string;
let connectors: Map<string, Connector>;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'latch-connector-check-'));
  const keys = await loadKeys(dir);
  connectors = new Map(builtInConnectors({ dataDir: dir, keys, issuer: 'latch', log: pino({ level: 'silent' }) }).map((c) => [c.kind, c]));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The one problem `resource` (YAML lines under `resources.r:`) gets, located in the file. */
function problemOf(resource: string): ConfigProblem & { text: string } {
  const text = `resources:\n  r:\n${resource}`;
  try {
    parseConfig(text, 'latch.yaml', (c) => connectorProblems(c, connectors));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    expect(err.problems).toHaveLength(1);
    return { ...err.problems[0]!, text };
  }
  throw new Error('the config was accepted');
}

const lineWith = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('connector problems in the file', () => {
  it('pass: a key where it takes none', () => {
    const p = problemOf('    connector: pass\n    roles: { read: {} }\n    config:\n      audience: x\n');
    expect(p).toMatchObject({ path: 'resources.r.config.audience', line: lineWith(p.text, 'audience: x'), column: 7 });
    expect(p.message).toMatch(/^the pass connector takes no config \(found audience\)$/);
  });

  it('ssh: a misspelt key, and a wrong value of a nested key', () => {
    const typo = problemOf('    connector: ssh\n    roles: { login: {} }\n    config:\n      principals: [deploy]\n      hots: bastion\n');
    expect(typo).toMatchObject({ path: 'resources.r.config.hots', line: lineWith(typo.text, 'hots:') });
    expect(typo.message).toMatch(/^unknown key "hots"/);
    const nested = problemOf('    connector: ssh\n    roles: { login: {} }\n    config:\n      principals: [deploy]\n      forwarding:\n        agent: maybe\n');
    expect(nested).toMatchObject({ path: 'resources.r.config.forwarding.agent', line: lineWith(nested.text, 'agent: maybe') });
  });

  it('webhook: a misspelt key, and a secret that is not set', () => {
    const typo = problemOf('    connector: webhook\n    roles: { read: {} }\n    config:\n      url: https://hooks.example/latch\n      secretEnv: LATCH_UNSET_HOOK_SECRET\n      retrys: 3\n');
    expect(typo).toMatchObject({ path: 'resources.r.config.retrys', line: lineWith(typo.text, 'retrys:') });
    const unset = problemOf('    connector: webhook\n    roles: { read: {} }\n    config:\n      url: https://hooks.example/latch\n      secretEnv: LATCH_UNSET_HOOK_SECRET\n');
    expect(unset).toMatchObject({ path: 'resources.r.config.secretEnv', line: lineWith(unset.text, 'secretEnv:') });
    expect(unset.message).toContain('LATCH_UNSET_HOOK_SECRET is not set');
  });

  it('postgres: a Latch role without a PostgreSQL role is put on `roles`, naming the role', () => {
    const p = problemOf('    connector: postgres\n    roles: { read: {}, admin: {} }\n    config:\n      url: postgres://latch@db/app\n      passwordEnv: LATCH_UNSET_PG\n      roles: { read: app_read }\n');
    expect(p).toMatchObject({ path: 'resources.r.config.roles', line: lineWith(p.text, 'roles: { read: app_read }') });
    expect(p.message).toMatch(/^config\.roles\.admin: /);
  });

  it('a message that names no key of the config points at the config map', () => {
    expect(locateConnectorProblem('r', { a: 1 }, new Error('resource r: the target refused the check'))).toEqual({ path: ['resources', 'r', 'config'], message: 'the target refused the check' });
  });
});
