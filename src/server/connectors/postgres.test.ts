/** The postgres connector without a database: config checks, SQL quoting, role names, secrets. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { newPassword, parsePgConfig, postgresConnector, quoteIdent, quoteLiteral, roleNameFor, scramVerifier } from './postgres.js';

const SECRET = 'S3cret-admin-pw-never-shown';
process.env.LATCH_PG_UNIT_PW = SECRET;
const dir = mkdtempSync(join(tmpdir(), 'latch-pg-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = { host: 'db.internal', port: 5432, database: 'app', user: 'latch_admin', passwordEnv: 'LATCH_PG_UNIT_PW', roles: { readonly: 'app_readonly', admin: 'app_admin' } };
const ROLES = ['readonly', 'admin'];
const quiet = pino({ level: 'silent' });

/** The message checkConfig throws for `config` (or null when it passes). */
function problem(config: Record<string, unknown>, roles: readonly string[] = ROLES): string | null {
  try {
    postgresConnector({ log: quiet }).checkConfig(config, 'pg-prod', roles);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

describe('checkConfig', () => {
  it('accepts host/port/database/user and resolves the defaults', () => {
    expect(problem(base)).toBeNull();
    expect(parsePgConfig(base, 'pg-prod', ROLES)).toEqual({
      host: 'db.internal', port: 5432, database: 'app', user: 'latch_admin', sslmode: 'disable',
      secret: { env: 'LATCH_PG_UNIT_PW', file: undefined }, roles: base.roles, reassignOwnedTo: 'latch_admin',
    });
  });

  it('accepts a url (port, sslmode) with the grantee database given apart, and a password file', () => {
    const file = join(dir, 'pw');
    writeFileSync(file, `${SECRET}\n`);
    const config = { url: 'postgresql://latch%5Fadmin@[::1]:6543/postgres?sslmode=verify-full', passwordFile: file, database: 'app', roles: base.roles, reassignOwnedTo: 'app_owner' };
    expect(problem(config)).toBeNull();
    expect(parsePgConfig(config, 'pg-prod')).toMatchObject({ host: '::1', port: 6543, user: 'latch_admin', database: 'app', sslmode: 'verify-full', reassignOwnedTo: 'app_owner' });
    expect(parsePgConfig({ ...config, url: 'postgres://a@h/appdb', database: undefined }, 'pg-prod')).toMatchObject({ port: 5432, database: 'appdb', sslmode: 'disable' });
  });

  it('the database is optional: without one in the config or the url it is postgres', () => {
    expect(parsePgConfig({ ...base, database: undefined }, 'pg-prod')).toMatchObject({ database: 'postgres' });
    expect(parsePgConfig({ url: 'postgres://a@h', passwordEnv: 'LATCH_PG_UNIT_PW', roles: base.roles }, 'pg-prod')).toMatchObject({ database: 'postgres', user: 'a' });
    expect(parsePgConfig({ url: 'postgres://a@h/', passwordEnv: 'LATCH_PG_UNIT_PW', roles: base.roles, database: 'app' }, 'pg-prod')).toMatchObject({ database: 'app' });
  });

  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['an unknown key', { ...base, passwrd: 'x' }, /^resource pg-prod: config\.passwrd: unknown key/],
    ['a port that is not a number', { ...base, port: '5432' }, /^resource pg-prod: config\.port: /],
    ['no admin connection', { roles: base.roles, passwordEnv: 'LATCH_PG_UNIT_PW' }, /^resource pg-prod: config\.url: give the admin connection/],
    ['no user', { ...base, user: undefined }, /^resource pg-prod: config\.user: /],
    ['both url and host', { ...base, url: 'postgres://a@h/db' }, /^resource pg-prod: config\.host: give either url or host/],
    ['a url that is not postgres', { url: 'mysql://a@h/db', passwordEnv: 'LATCH_PG_UNIT_PW', roles: base.roles }, /^resource pg-prod: config\.url: must start with postgres:\/\//],
    ['a url with another query parameter', { url: 'postgres://a@h/db?connect_timeout=3', passwordEnv: 'LATCH_PG_UNIT_PW', roles: base.roles }, /config\.url: the only query parameter understood is sslmode/],
    ['no password source', { ...base, passwordEnv: undefined }, /^resource pg-prod: config\.passwordEnv: give the admin password's environment variable/],
    ['both password sources', { ...base, passwordFile: '/x' }, /^resource pg-prod: config\.passwordFile: give passwordEnv or passwordFile, not both/],
    ['a password variable that is not set', { ...base, passwordEnv: 'LATCH_PG_UNIT_UNSET' }, /^resource pg-prod: config\.passwordEnv: .*environment variable LATCH_PG_UNIT_UNSET is not set/],
    ['a password file that cannot be read', { ...base, passwordEnv: undefined, passwordFile: join(dir, 'missing') }, /^resource pg-prod: config\.passwordFile: .*cannot read .*missing \(ENOENT\)/],
    ['a Latch role without a target role', { ...base, roles: { readonly: 'app_readonly' } }, /^resource pg-prod: config\.roles\.admin: Latch role "admin" has no PostgreSQL role/],
    ['a mapping for a role the resource does not have', { ...base, roles: { ...base.roles, redonly: 'x' } }, /^resource pg-prod: config\.roles\.redonly: the resource has no Latch role "redonly"/],
    ['a target role name longer than PostgreSQL allows', { ...base, roles: { ...base.roles, readonly: 'r'.repeat(64) } }, /^resource pg-prod: config\.roles\.readonly: must be a PostgreSQL name of at most 63 bytes/],
    ['an empty reassignOwnedTo', { ...base, reassignOwnedTo: '' }, /^resource pg-prod: config\.reassignOwnedTo: must not be empty/],
    ['a bad sslmode', { ...base, sslmode: 'prefer' }, /^resource pg-prod: config\.sslmode: /],
  ];
  for (const [what, config, expected] of cases) {
    it(`names the key: ${what}`, () => {
      expect(problem(config)).toMatch(expected);
    });
  }

  it('a Latch role named like an Object.prototype member still needs its own mapping', () => {
    expect(problem({ ...base, roles: { readonly: 'r' } }, ['readonly', 'constructor'])).toMatch(/config\.roles\.constructor: Latch role "constructor"/);
  });

  it('a password in the url is refused, and the message does not repeat it', () => {
    const msg = problem({ url: `postgres://latch_admin:${SECRET}@db/app`, roles: base.roles });
    expect(msg).toMatch(/^resource pg-prod: config\.url: must not contain a password; put it in the environment variable named by passwordEnv/);
    expect(msg).not.toContain(SECRET);
  });
});

describe('SQL text', () => {
  it('quotes identifiers: double quotes doubled, case and spaces kept, NUL refused', () => {
    expect(quoteIdent('app_readonly')).toBe('"app_readonly"');
    expect(quoteIdent('App Readers')).toBe('"App Readers"');
    expect(quoteIdent('x"; DROP ROLE postgres; --')).toBe('"x""; DROP ROLE postgres; --"');
    expect(() => quoteIdent('a\0b')).toThrow(/NUL/);
    expect(() => quoteIdent('')).toThrow(/non-empty/);
  });

  it('quotes literals: quotes doubled; backslashes doubled inside E\'\' so the meaning never depends on standard_conforming_strings', () => {
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral('2025-03-30T01:30:00.000Z')).toBe("'2025-03-30T01:30:00.000Z'");
    expect(quoteLiteral("a\\'; DROP")).toBe(" E'a\\\\''; DROP'");
    expect(() => quoteLiteral('a\0')).toThrow(/NUL/);
  });

  it('derives the role name from the grant id: jit_ + lowercased; a hash when that would not be a plain name of ≤ 63 bytes', () => {
    expect(roleNameFor('gr_AbC123xyz')).toBe('jit_gr_abc123xyz');
    const long = roleNameFor(`gr_${'A'.repeat(80)}`);
    const odd = roleNameFor('gr_"weird"');
    for (const name of [long, odd]) expect(name).toMatch(/^jit_[0-9a-f]{40}$/);
    expect(long).not.toBe(odd);
    expect(roleNameFor(`gr_${'A'.repeat(80)}`)).toBe(long);
  });

  it('sends a SCRAM-SHA-256 verifier, never the password, and makes passwords of ≥ 24 URL-safe characters', async () => {
    const pw = newPassword();
    expect(pw).toMatch(/^[A-Za-z0-9_-]{24,}$/);
    expect(newPassword()).not.toBe(pw);
    const v = await scramVerifier(pw);
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);
    expect(v).not.toContain(pw);
    const salt = Buffer.alloc(16, 7);
    expect(await scramVerifier(pw, salt)).toBe(await scramVerifier(pw, salt));
    expect(await scramVerifier(pw)).not.toBe(v); // a fresh salt each time
  });
});

describe('secrets stay out of errors and logs', () => {
  it('an unreachable server: the error says where and what to check, and neither it nor any log line holds a password', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const lines: string[] = [];
    const log = pino({ level: 'trace' }, new Writable({ write(c: Buffer, _e, cb) { lines.push(c.toString()); cb(); } }));
    const connector = postgresConnector({ log });
    const target = { grantId: 'gr_Unit1', user: 'alice', resource: 'pg-prod', role: 'readonly', config: { ...base, host: '127.0.0.1', port }, startsAt: 0, expiresAt: Date.now() + 60_000, publicKey: null };
    const errors = await Promise.all([connector.provision(target), connector.revoke(target), connector.extend!(target)].map((p) => p.then(() => null, (e: Error) => e.message)));
    await connector.close?.();
    for (const message of errors) {
      expect(message).toMatch(new RegExp(`^PostgreSQL at 127\\.0\\.0\\.1:${port}/app \\(resource pg-prod\\): .*ECONNREFUSED.*is PostgreSQL running and reachable`));
      expect(message).not.toContain(SECRET);
    }
    expect(lines.join('')).not.toContain(SECRET);
  });
});
