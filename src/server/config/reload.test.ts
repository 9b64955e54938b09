/**
 * The config file through the real server: a refused reload leaves the running configuration in
 * force, and the connectors' problems with a resource's config are reported with the file and
 * line, at start and on reload, like the schema's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { newCodeFor } from '../auth/identity.js';
import { createLatchServer, type LatchServer } from '../server.js';
import { TestClient } from '../test-support/harness.js';

const REASON = 'INC-1234 restart replica';

const policy = (resource: string) => `  - resource: ${resource}
    requesters: [eng]
    approvers: { groups: [sre] }
    maxDuration: 1h
`;

const GOOD = `groups:
  eng: { members: [alice] }
  sre: { members: [bob] }
resources:
  old-pass:
    connector: pass
    roles: { read: {} }
policies:
${policy('old-pass')}`;

/** old-pass renamed to new-pass, zed added to eng, and a resource whose connector does not exist. */
const NOSUCH = `groups:
  eng: { members: [alice, zed] }
  sre: { members: [bob] }
resources:
  new-pass:
    connector: pass
    roles: { read: {} }
  db:
    connector: nosuch
    roles: { read: {} }
policies:
${policy('new-pass')}${policy('db')}`;

/** A typo inside a postgres resource's config: `hots` for `host`. */
const TYPO = `groups:
  eng: { members: [alice] }
  sre: { members: [bob] }
resources:
  db:
    connector: postgres
    config:
      hots: db.internal
      database: app
      user: latch_admin
      passwordEnv: LATCH_DB_PASSWORD
      roles: { read: app_read }
    roles: { read: {} }
policies:
${policy('db')}`;

/** 1-based line of the only line containing `needle`. */
function lineOf(text: string, needle: string): number {
  const hits = text.split('\n').flatMap((l, i) => (l.includes(needle) ? [i + 1] : []));
  if (hits.length !== 1) throw new Error(`"${needle}" is on ${hits.length} lines of the fixture`);
  return hits[0]!;
}

/** `FILE:LINE:COL` of `needle` (its first character) in `text`. */
function where(file: string, text: string, needle: string): string {
  const line = lineOf(text, needle);
  return `${file}:${line}:${text.split('\n')[line - 1]!.indexOf(needle) + 1}`;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let dir: string;
let file: string;
const servers: LatchServer[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'latch-reload-'));
  file = join(dir, 'latch.yaml');
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(text: string) {
  writeFileSync(file, text);
  const clock = new ManualClock(Date.UTC(2026, 2, 2, 9, 0, 0));
  const server = await createLatchServer({ dataDir: join(dir, 'data'), configFile: file, clock, logger: pino({ level: 'silent' }), accessTtlS: 400 * 24 * 3600 });
  servers.push(server);
  const url = await server.listen('127.0.0.1', 0);
  const as = async (user: string) => {
    const code = user === 'admin' ? server.bootstrap!.code : (await newCodeFor(server.store, user, clock.now())).code;
    const r = await new TestClient(url, null, user).post('/v1/enroll', { code, device: 'test' });
    return new TestClient(url, r.body.accessToken, user);
  };
  return { server, as };
}

describe('a refused reload', () => {
  it('an unknown connector is refused with its line, and requests go on under the old config', async () => {
    const { server, as } = await start(GOOD);
    const alice = await as('alice');
    const admin = await as('admin');

    writeFileSync(file, NOSUCH);
    const result = await server.reloadConfig();
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toContain(`${where(file, NOSUCH, 'connector: nosuch')}: resources.db.connector: unknown connector "nosuch"; this server has: `);

    expect((await alice.get('/v1/resources')).body.items.map((r: { name: string }) => r.name)).toEqual(['old-pass']);
    expect((await alice.post('/v1/requests', { resource: 'old-pass', role: 'read', duration: '30m', reason: REASON })).status).toBe(201);
    const refused = await alice.post('/v1/requests', { resource: 'new-pass', role: 'read', duration: '30m', reason: REASON });
    expect(refused.status).toBe(404);
    expect(refused.body.error.code).toBe('not_requestable');
    // The members the refused file named were not brought in either.
    const users = (await admin.get('/v1/admin/users')).body.items.map((u: { name: string }) => u.name);
    expect(users).toContain('alice');
    expect(users).not.toContain('zed');

    // Fixed, the same file applies.
    writeFileSync(file, NOSUCH.replace('connector: nosuch', 'connector: pass'));
    expect(await server.reloadConfig()).toEqual({ ok: true });
    expect((await alice.post('/v1/requests', { resource: 'new-pass', role: 'read', duration: '30m', reason: REASON })).status).toBe(201);
    expect((await admin.get('/v1/admin/users')).body.items.map((u: { name: string }) => u.name)).toContain('zed');
  });

  it('a typo inside a resource\'s connector config is refused with the key\'s line', async () => {
    const { server, as } = await start(GOOD);
    writeFileSync(file, TYPO);
    const result = await server.reloadConfig();
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toMatch(new RegExp(`^${esc(where(file, TYPO, 'hots'))}: resources\\.db\\.config\\.hots: unknown key`));
    expect((await (await as('alice')).get('/v1/resources')).body.items.map((r: { name: string }) => r.name)).toEqual(['old-pass']);
  });
});

describe('names every JavaScript object inherits', () => {
  /** GOOD, with its policy for `resource` and `roles`/`requesters` as given. */
  const naming = (resource: string, extra = '') => GOOD.replace('  - resource: old-pass\n', `  - resource: ${resource}\n${extra}`);
  const CASES: [string, string, string, string][] = [
    // [what, file, needle on the problem's line, message]
    ['resource constructor', naming('constructor'), 'resource: constructor', 'policies.0.resource: no resource named "constructor" under resources'],
    ['role constructor', naming('old-pass', '    roles: [constructor]\n'), 'roles: [constructor]', 'policies.0.roles.0: resource "old-pass" has no role "constructor"'],
    ['group constructor', GOOD.replace('requesters: [eng]', 'requesters: [eng, constructor]'), 'requesters: [eng, constructor]', 'policies.0.requesters.1: no group named "constructor" under groups'],
  ];

  it.each(CASES)('a policy naming the undefined %s is refused on reload with its line, and the server goes on under the old config', async (_what, text, needle, message) => {
    const { server, as } = await start(GOOD);
    const alice = await as('alice');
    writeFileSync(file, text);
    const result = await server.reloadConfig();
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toContain(`${file}:${lineOf(text, needle)}:`);
    if (!result.ok) expect(result.error.message).toContain(message);
    expect((await alice.get('/v1/resources')).body.items.map((r: { name: string }) => r.name)).toEqual(['old-pass']);
    expect((await alice.post('/v1/requests', { resource: 'old-pass', role: 'read', duration: '30m', reason: REASON })).status).toBe(201);
  });

  it.each(CASES)('a policy naming the undefined %s stops the start with the file, line and key', async (_what, text, needle, message) => {
    writeFileSync(file, text);
    const error = await createLatchServer({ dataDir: join(dir, 'data'), configFile: file, logger: pino({ level: 'silent' }) }).then(
      (s) => (servers.push(s), null),
      (err: Error) => err,
    );
    expect(error?.message).toMatch(new RegExp(`^${esc(file)}:${lineOf(text, needle)}:\\d+: ${esc(message)}$`));
  });
});

describe('an empty file', () => {
  it('is refused on reload, saying how to clear the config on purpose; the old config and its pending approvals stay', async () => {
    const { server, as } = await start(GOOD);
    const alice = await as('alice');
    const bob = await as('bob');
    const pending = await alice.post('/v1/requests', { resource: 'old-pass', role: 'read', duration: '30m', reason: REASON });
    expect(pending.status).toBe(201);

    for (const empty of ['', '  \n', '# the config is being rewritten\n']) {
      writeFileSync(file, empty);
      const result = await server.reloadConfig();
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.message).toBe(`${file}: the file is empty (nothing but whitespace or comments), so it was not loaded: that would remove every group, resource and policy at once; to clear the configuration on purpose, write {} in the file and reload again`);
    }
    expect((await alice.get('/v1/resources')).body.items.map((r: { name: string }) => r.name)).toEqual(['old-pass']);
    const approved = await bob.post(`/v1/requests/${pending.body.id}/approve`, {});
    expect(approved.status).toBe(200);
    expect(approved.body.state).toBe('approved');

    // Written on purpose: `{}` clears it.
    writeFileSync(file, '{}\n');
    expect(await server.reloadConfig()).toEqual({ ok: true });
    expect((await alice.get('/v1/resources')).body.items).toEqual([]);
  });

  it('is a valid start, with a warning that nothing can be requested', async () => {
    writeFileSync(file, '# nothing yet\n');
    const lines: string[] = [];
    const server = await createLatchServer({ dataDir: join(dir, 'data'), configFile: file, logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) });
    servers.push(server);
    const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40);
    expect(warnings.map((w) => w.msg)).toEqual([`${file} has no policies, so nothing can be requested; add resources and policies (examples/demo.yaml is an annotated example) and reload`]);
  });
});

describe('connector problems at start', () => {
  const startFails = async (text: string) => {
    writeFileSync(file, text);
    return createLatchServer({ dataDir: join(dir, 'data'), configFile: file, logger: pino({ level: 'silent' }) }).then(
      (s) => (servers.push(s), null),
      (err: Error) => err.message,
    );
  };

  it('a typo inside a resource\'s config names the file, line and key', async () => {
    const message = await startFails(TYPO);
    expect(message).toMatch(new RegExp(`^${esc(where(file, TYPO, 'hots'))}: resources\\.db\\.config\\.hots: unknown key \\(the postgres connector takes `));
  });

  it('an unknown connector names the file, line and key', async () => {
    const message = await startFails(NOSUCH);
    expect(message).toBe(`${where(file, NOSUCH, 'connector: nosuch')}: resources.db.connector: unknown connector "nosuch"; this server has: pass, postgres, ssh, webhook`);
  });

  it('a problem the connector does not tie to a key points at the resource\'s config', async () => {
    // No admin connection at all: the postgres connector names a key that is not there.
    const text = TYPO.replace('      hots: db.internal\n', '');
    const message = await startFails(text);
    expect(message).toMatch(new RegExp(`^${esc(where(file, text, 'config:'))}: resources\\.db\\.config: config\\.url: give the admin connection`));
  });
});
