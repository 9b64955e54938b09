import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { own } from '../../shared/own.js';
import { ConfigError, ConfigHolder, loadConfigFile, parseConfig, type ConfigProblem } from './load.js';

const VALID = `groups:
  eng:
    members: [alice]
  sre:
    members: [bob]
resources:
  pg-prod:
    connector: postgres
    roles:
      read: {}
      write:
        description: writes
policies:
  - resource: pg-prod
    roles: [read]
    requesters: [eng]
    approvers:
      groups: [sre]
    maxDuration: 2h
    defaultDuration: 30m
`;

/** 1-based line of the only line containing `needle`, so tests survive fixture edits. */
function lineOf(text: string, needle: string): number {
  const lines = text.split('\n');
  const hits = lines.flatMap((l, i) => (l.includes(needle) ? [i + 1] : []));
  if (hits.length !== 1) throw new Error(`"${needle}" is on ${hits.length} lines of the fixture`);
  return hits[0]!;
}

function edit(from: string, to: string): string {
  if (!VALID.includes(from)) throw new Error(`fixture has no "${from}"`);
  return VALID.replace(from, to);
}

function problemsOf(text: string): ConfigProblem[] {
  try {
    parseConfig(text, 'latch.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

function onlyProblem(text: string): ConfigProblem {
  const problems = problemsOf(text);
  expect(problems).toHaveLength(1);
  return problems[0]!;
}

describe('parseConfig', () => {
  it('parses a valid file, durations in milliseconds and defaults filled in', () => {
    const cfg = parseConfig(VALID);
    expect(cfg.groups.eng?.members).toEqual(['alice']);
    expect(Object.keys(cfg.resources['pg-prod']!.roles)).toEqual(['read', 'write']);
    const p = cfg.policies[0]!;
    expect(p.maxDuration).toBe(2 * 3_600_000);
    expect(p.defaultDuration).toBe(30 * 60_000);
    expect(p.selfApproval).toBe(false);
    expect(p.approvers.users).toEqual([]);
  });

  it('gives defaulted durations in milliseconds too', () => {
    const p = parseConfig(VALID).policies[0]!;
    expect(p.approveWithin).toBe(24 * 3_600_000);
    expect(p.scheduledStart).toEqual({ allowed: false, maxAhead: 7 * 86_400_000 });
    expect(p.breakGlass).toEqual({ allowed: false, maxDuration: 3_600_000 });
  });

  it('treats an empty file, or one of only comments, as an empty config', () => {
    expect(parseConfig('')).toEqual({ groups: {}, resources: {}, policies: [] });
    expect(parseConfig('# nothing yet\n')).toEqual({ groups: {}, resources: {}, policies: [] });
  });

  it('reports a wrong type at the value', () => {
    const text = edit('members: [alice]', 'members: alice');
    const p = onlyProblem(text);
    expect(p.path).toBe('groups.eng.members');
    expect(p.line).toBe(lineOf(text, 'members: alice'));
    expect(p.column).toBe(14);
    expect(p.message).toBe("must be an array, not a string");
  });

  it('reports a bad duration with the key path, line and column in the message', () => {
    const text = edit('maxDuration: 2h', 'maxDuration: 6x');
    let error: unknown;
    try {
      parseConfig(text, 'latch.yaml');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as ConfigError;
    const line = lineOf(text, 'maxDuration: 6x');
    expect(e.file).toBe('latch.yaml');
    expect(e.problems).toEqual([{ path: 'policies.0.maxDuration', line, column: 18, message: expect.stringContaining('"6x" is not a duration') }]);
    expect(e.message).toBe(`latch.yaml:${line}:18: policies.0.maxDuration: "6x" is not a duration; write it like 30m, 2h or 1h30m`);
  });

  it.each(['0', '60'])('says a bare number (maxDuration: %s) needs a unit, rather than "must be a string"', (n) => {
    const text = edit('maxDuration: 2h', `maxDuration: ${n}`);
    expect(onlyProblem(text)).toEqual({ path: 'policies.0.maxDuration', line: lineOf(text, `maxDuration: ${n}`), column: 18, message: `${n} is a number without a unit, not a duration; write it like 30m, 2h or 1h30m` });
  });

  it('points an unknown key at the key itself', () => {
    const text = edit('    maxDuration: 2h\n', '    maxDuration: 2h\n    maxDurationn: 3h\n');
    const p = onlyProblem(text);
    expect(p).toMatchObject({ path: 'policies.0.maxDurationn', line: lineOf(text, 'maxDurationn'), column: 5, message: 'unknown key "maxDurationn"' });
  });

  it('points an unknown top-level key at the key', () => {
    const text = `${VALID}polices: []\n`;
    expect(onlyProblem(text)).toMatchObject({ path: 'polices', line: lineOf(text, 'polices:'), column: 1 });
  });

  it('points an invalid name at the key', () => {
    const text = edit('  sre:', '  SRE:').replace('groups: [sre]', 'groups: [eng]');
    const p = onlyProblem(text);
    expect(p).toMatchObject({ path: 'groups.SRE', line: lineOf(text, 'SRE:') });
    expect(p.message).toMatch(/"SRE" is not a valid name: use lower-case/);
  });

  it('reports a missing required key at its parent', () => {
    const text = edit('    maxDuration: 2h\n', '');
    const p = onlyProblem(text);
    expect(p).toMatchObject({ path: 'policies.0.maxDuration', line: lineOf(text, '- resource: pg-prod'), message: 'this key is required but missing' });
  });

  it('reports a policy naming a missing resource', () => {
    const text = edit('resource: pg-prod', 'resource: pg-stage');
    const p = onlyProblem(text);
    expect(p).toMatchObject({ path: 'policies.0.resource', line: lineOf(text, 'pg-stage') });
    expect(p.message).toMatch(/no resource named "pg-stage"/);
  });

  it('reports a policy naming a missing group', () => {
    const text = edit('groups: [sre]', 'groups: [sre, dba]');
    const p = onlyProblem(text);
    expect(p).toMatchObject({ path: 'policies.0.approvers.groups.1', line: lineOf(text, 'dba'), column: 21 });
    expect(p.message).toMatch(/no group named "dba"/);
  });

  it('reports a policy naming a missing role', () => {
    const text = edit('roles: [read]', 'roles: [read, admin]');
    const p = onlyProblem(text);
    expect(p).toMatchObject({ path: 'policies.0.roles.1', line: lineOf(text, 'admin') });
    expect(p.message).toMatch(/resource "pg-prod" has no role "admin"/);
  });

  it('reports every problem, one per line of the message', () => {
    const text = edit('maxDuration: 2h', 'maxDuration: 6x').replace('members: [bob]', 'members: bob');
    const problems = problemsOf(text);
    expect(problems.map((p) => p.path).sort()).toEqual(['groups.sre.members', 'policies.0.maxDuration']);
  });

  it('reports a YAML syntax error with its line', () => {
    const text = edit('requesters: [eng]', 'requesters: [eng');
    const p = problemsOf(text)[0]!;
    expect(p.path).toBe('');
    expect(p.line).toBeGreaterThanOrEqual(lineOf(text, 'requesters: [eng'));
    expect(p.line).toBeLessThanOrEqual(lineOf(text, 'requesters: [eng') + 1);
  });

  it('reports a duplicate key as a YAML error at the second occurrence', () => {
    const text = edit('    defaultDuration: 30m\n', '    defaultDuration: 30m\n    defaultDuration: 1h\n');
    expect(onlyProblem(text)).toMatchObject({ path: '', line: lineOf(text, 'defaultDuration: 1h'), column: 5 });
  });

  it('reports a document that is not a mapping', () => {
    expect(onlyProblem('- a\n- b\n')).toMatchObject({ path: '', line: 1, column: 1, message: "must be an object, not an array" });
  });
});

describe('names every JavaScript object inherits (constructor, __proto__, toString…)', () => {
  // Once read by `name in obj`: `constructor` was a resource (a crash), a role and a group.
  const INHERITED = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
  /** The messages of the problems, after checking they all sit at `path` on the line of `needle`. */
  const messagesAt = (text: string, path: string, needle: string) => {
    const problems = problemsOf(text);
    expect(problems.map((p) => [p.path, p.line])).toEqual(problems.map(() => [path, lineOf(text, needle)]));
    return problems.map((p) => p.message);
  };
  // Only `constructor` is a valid name; the others are also refused as names ("use lower-case…").

  it.each(INHERITED)('a policy for the undefined resource %s is a config error at its line', (name) => {
    const text = edit('resource: pg-prod', `resource: ${name}`);
    expect(messagesAt(text, 'policies.0.resource', `resource: ${name}`)).toContain(`no resource named "${name}" under resources`);
  });

  it.each(INHERITED)('a policy for the undefined role %s is a config error at its line', (name) => {
    const text = edit('roles: [read]', `roles: [read, ${name}]`);
    expect(messagesAt(text, 'policies.0.roles.1', `roles: [read, ${name}]`)).toContain(`resource "pg-prod" has no role "${name}"`);
  });

  it.each(INHERITED)('requesters and approvers naming the undefined group %s are config errors at their lines', (name) => {
    const requesters = edit('requesters: [eng]', `requesters: [eng, ${name}]`);
    expect(messagesAt(requesters, 'policies.0.requesters.1', `requesters: [eng, ${name}]`)).toContain(`no group named "${name}" under groups`);
    const approvers = edit('groups: [sre]', `groups: [sre, ${name}]`);
    expect(messagesAt(approvers, 'policies.0.approvers.groups.1', `groups: [sre, ${name}]`)).toContain(`no group named "${name}" under groups`);
  });

  it('the whole message names the file, line and key', () => {
    const text = edit('resource: pg-prod', 'resource: constructor');
    expect(() => parseConfig(text, 'latch.yaml')).toThrow(`latch.yaml:${lineOf(text, 'resource: constructor')}:15: policies.0.resource: no resource named "constructor" under resources`);
  });

  it('a group, resource and role really named constructor are names like any other', () => {
    const text = VALID.replaceAll('pg-prod', 'constructor').replaceAll('eng', 'constructor').replace('read: {}', 'constructor: {}').replace('roles: [read]', 'roles: [constructor]');
    const cfg = parseConfig(text);
    expect(Object.keys(cfg.resources)).toEqual(['constructor']);
    expect(Object.keys(own(cfg.resources, 'constructor')!.roles)).toEqual(['constructor', 'write']);
    expect(cfg.policies[0]).toMatchObject({ resource: 'constructor', roles: ['constructor'], requesters: ['constructor'] });
  });
});

describe('an empty document', () => {
  const EMPTY = ['', '   \n\n', '# nothing yet\n# really\n', '---\n', '~\n'];

  it.each(EMPTY)('is refused with what to write instead when empty files are refused (a reload): %j', (text) => {
    expect(() => parseConfig(text, 'latch.yaml', undefined, { empty: 'refuse' })).toThrow(
      'latch.yaml: the file is empty (nothing but whitespace or comments), so it was not loaded: that would remove every group, resource and policy at once; to clear the configuration on purpose, write {} in the file and reload again',
    );
  });

  it('written as {} is an empty config, on purpose', () => {
    expect(parseConfig('{}\n', 'latch.yaml', undefined, { empty: 'refuse' })).toEqual({ groups: {}, resources: {}, policies: [] });
  });
});

describe('loadConfigFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'latch-config-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads examples/demo.yaml', () => {
    const demo = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));
    const cfg = loadConfigFile(demo);
    expect(cfg.groups.sre?.members).toEqual(['bob', 'carol']);
    expect(cfg.resources['demo-pass']?.connector).toBe('pass');
    expect(cfg.policies).toHaveLength(1);
    expect(cfg.policies[0]).toMatchObject({
      resource: 'demo-pass',
      roles: ['read'],
      requesters: ['eng', 'sre'],
      approvers: { groups: ['sre'], users: [] },
      approvals: 1,
      defaultDuration: 30 * 60_000,
      maxDuration: 3_600_000,
      reasonRequired: true,
      approveWithin: 24 * 3_600_000,
      extensions: { max: 2, maxDuration: 30 * 60_000, requireApproval: true },
      selfApproval: false,
      denyEndsRequest: true,
    });
  });

  it('names the file in every problem', () => {
    const file = join(dir, 'latch.yaml');
    writeFileSync(file, edit('maxDuration: 2h', 'maxDuration: 6x'));
    expect(() => loadConfigFile(file)).toThrow(`${file}:${lineOf(VALID, 'maxDuration: 2h')}:18: policies.0.maxDuration:`);
  });

  it('says a missing file does not exist and what to do', () => {
    const file = join(dir, 'nope.yaml');
    let error: unknown;
    try {
      loadConfigFile(file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).file).toBe(file);
    expect((error as ConfigError).message).toMatch(/does not exist; create it/);
  });
});

describe('ConfigHolder', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'latch-config-'));
    file = join(dir, 'latch.yaml');
    writeFileSync(file, VALID);
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the previous config when the file is broken, and returns the error', () => {
    const holder = new ConfigHolder(file, loadConfigFile(file));
    const before = holder.current;
    const listener = vi.fn();
    holder.onChange(listener);
    writeFileSync(file, edit('maxDuration: 2h', 'maxDuration: 6x'));

    const result = holder.reload();

    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.problems[0]?.path).toBe('policies.0.maxDuration');
    expect(holder.current).toBe(before);
    expect(listener).not.toHaveBeenCalled();
  });

  it('keeps the previous config when the file disappears', () => {
    const holder = new ConfigHolder(file, loadConfigFile(file));
    const before = holder.current;
    rmSync(file);
    const result = holder.reload();
    expect(result.ok).toBe(false);
    expect(holder.current).toBe(before);
  });

  it('swaps to a good file and tells listeners, until they unsubscribe', () => {
    const holder = new ConfigHolder(file, loadConfigFile(file));
    const listener = vi.fn();
    const unsubscribe = holder.onChange(listener);
    writeFileSync(file, edit('maxDuration: 2h', 'maxDuration: 4h'));

    expect(holder.reload()).toEqual({ ok: true });
    expect(holder.current.policies[0]?.maxDuration).toBe(4 * 3_600_000);
    expect(listener).toHaveBeenCalledTimes(1);
    expect(listener).toHaveBeenCalledWith(holder.current);

    unsubscribe();
    expect(holder.reload()).toEqual({ ok: true });
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('calls every listener even when one throws, then reports the failure', () => {
    const holder = new ConfigHolder(file, loadConfigFile(file));
    const second = vi.fn();
    holder.onChange(() => {
      throw new Error('boom');
    });
    holder.onChange(second);
    expect(() => holder.reload()).toThrow(AggregateError);
    expect(second).toHaveBeenCalledTimes(1);
  });

  it('keeps the previous config when the file is emptied, and says how to clear it on purpose', () => {
    const holder = new ConfigHolder(file, loadConfigFile(file));
    const before = holder.current;
    const listener = vi.fn();
    holder.onChange(listener);
    writeFileSync(file, '# being edited\n');

    const result = holder.reload();

    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toBe(`${file}: the file is empty (nothing but whitespace or comments), so it was not loaded: that would remove every group, resource and policy at once; to clear the configuration on purpose, write {} in the file and reload again`);
    expect(holder.current).toBe(before);
    expect(listener).not.toHaveBeenCalled();

    writeFileSync(file, '{}\n');
    expect(holder.reload()).toEqual({ ok: true });
    expect(holder.current.policies).toEqual([]);
  });

  it('has nothing to reload without a file', () => {
    const holder = new ConfigHolder(null, parseConfig(''));
    const result = holder.reload();
    expect(result.ok).toBe(false);
  });
});
