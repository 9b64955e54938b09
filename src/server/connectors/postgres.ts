/**
 * `postgres`: each grant gets its own LOGIN role (`jit_<grant id>`) with a random password, made a
 * member of the target role its Latch role maps to. Revoke takes access away in an order where a
 * later failure never leaves access behind: NOLOGIN, terminate every session and wait for them to
 * go, REASSIGN/DROP OWNED, DROP ROLE (FIELD-CASES B04, B09). `VALID UNTIL` is written as an
 * explicit UTC instant (B06a) but is only a backstop: it expires the password, not sessions (B06b).
 * Reference: docs/connectors/postgres.md.
 */
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';
import { hasOwn, own } from '../../shared/own.js';
import { readSecret, type SecretRef } from './secrets.js';
import { ConnectorConfigError, type Connector, type GrantTarget, type Provisioned, type Revoked } from './types.js';

const pbkdf2Async = promisify(pbkdf2);

// ---- SQL text ---------------------------------------------------------------------------------

/** Quotes an identifier for SQL text (role names cannot be bind parameters in DDL). */
export function quoteIdent(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new Error('a PostgreSQL identifier must be non-empty and contain no NUL character');
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a string literal; backslashes are doubled inside E'' so the result holds whatever standard_conforming_strings is. */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('a PostgreSQL literal cannot contain a NUL character');
  const body = value.replaceAll("'", "''");
  return value.includes('\\') ? ` E'${body.replaceAll('\\', '\\\\')}'` : `'${body}'`;
}

/**
 * The per-grant role: `jit_` + the grant id lowercased, which is what people see in
 * `pg_stat_activity` and type in psql. An id that would not give a plain identifier of at most
 * 63 bytes (PostgreSQL silently truncates longer names, which could make two grants share a role)
 * gets a name from its hash instead.
 */
export function roleNameFor(grantId: string): string {
  const plain = `jit_${grantId.toLowerCase()}`;
  if (/^[a-z0-9_]+$/.test(plain) && plain.length <= 63) return plain;
  return `jit_${createHash('sha256').update(grantId).digest('hex').slice(0, 40)}`;
}

/**
 * A SCRAM-SHA-256 verifier (RFC 5802/7677, as PostgreSQL stores it). Sending the verifier instead
 * of the password keeps the password out of the server's statement log, which records the text
 * of any failing statement (`log_min_error_statement`).
 */
export async function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): Promise<string> {
  // Our passwords are ASCII letters, digits, '-' and '_', for which SASLprep is the identity.
  const salted = await pbkdf2Async(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** 32 characters from 24 random bytes, URL-safe so the connection string needs no escaping. */
export const newPassword = () => randomBytes(24).toString('base64url');

// ---- config -----------------------------------------------------------------------------------

const ident = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => Buffer.byteLength(s) <= 63 && !s.includes('\0'), 'must be a PostgreSQL name of at most 63 bytes');

const SSL_MODES = ['disable', 'require', 'verify-full'] as const;
/** Without a database in the config or the url: the one every cluster has (libpq would guess the user's name instead). */
const DEFAULT_DATABASE = 'postgres';

const configSchema = z.strictObject({
  /** `postgres://user@host:port/database[?sslmode=…]`, without a password. */
  url: z.string().optional(),
  host: z.string().min(1, 'must not be empty').optional(),
  port: z.number().int().min(1).max(65535).optional(),
  /** The database grantees connect to, and the admin connection's; default the url's, else `postgres`. */
  database: ident.optional(),
  user: ident.optional(),
  passwordEnv: z.string().min(1, 'must not be empty').optional(),
  passwordFile: z.string().min(1, 'must not be empty').optional(),
  sslmode: z.enum(SSL_MODES).optional(),
  /** Latch role → PostgreSQL role the grant's role becomes a member of. */
  roles: z.record(z.string(), ident),
  /** Who gets what a grant's role created; default the admin user. */
  reassignOwnedTo: ident.optional(),
});

/** A resource's config, resolved. */
export interface PgResource {
  host: string;
  port: number;
  /** The database grantees connect to, and where the admin runs REASSIGN/DROP OWNED. */
  database: string;
  user: string;
  sslmode: (typeof SSL_MODES)[number];
  secret: SecretRef;
  roles: Record<string, string>;
  reassignOwnedTo: string;
}

const configError = (resource: string, key: string, message: string) => new ConnectorConfigError(`resource ${resource}: config.${key}: ${message}`, key, message);

/** Validates and resolves a resource's config; errors name the resource and the key, never a secret. */
export function parsePgConfig(config: Record<string, unknown>, resource: string, latchRoles?: readonly string[]): PgResource {
  const parsed = configSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => [...issue.path, k].join('.'));
      throw configError(resource, keys[0]!, `unknown key (the postgres connector takes url or host/port/database/user, passwordEnv or passwordFile, sslmode, roles, reassignOwnedTo)`);
    }
    throw configError(resource, issue.path.join('.') || 'roles', issue.message);
  }
  const c = parsed.data;

  let host: string;
  let port: number;
  let user: string;
  let database: string;
  let sslmode = c.sslmode;
  if (c.url !== undefined) {
    for (const key of ['host', 'port', 'user'] as const) {
      if (c[key] !== undefined) throw configError(resource, key, 'give either url or host/port/user, not both');
    }
    let u: URL;
    try {
      u = new URL(c.url);
    } catch {
      throw configError(resource, 'url', 'is not a URL; write it like postgres://latch_admin@db.internal:5432/app');
    }
    if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw configError(resource, 'url', `must start with postgres:// (not ${u.protocol}//)`);
    if (u.password !== '') throw configError(resource, 'url', 'must not contain a password; put it in the environment variable named by passwordEnv or the file named by passwordFile');
    if (u.username === '') throw configError(resource, 'url', 'must name the admin user, like postgres://latch_admin@db.internal:5432/app');
    if (u.hostname === '') throw configError(resource, 'url', 'must name a host');
    const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
    for (const [key, value] of u.searchParams) {
      if (key !== 'sslmode') throw configError(resource, 'url', `the only query parameter understood is sslmode (found ${key})`);
      if (!(SSL_MODES as readonly string[]).includes(value)) throw configError(resource, 'url', `sslmode must be one of ${SSL_MODES.join(', ')}`);
      if (sslmode !== undefined && sslmode !== value) throw configError(resource, 'sslmode', 'differs from the sslmode in url; give it once');
      sslmode = value as PgResource['sslmode'];
    }
    host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    port = u.port === '' ? 5432 : Number(u.port);
    user = decodeURIComponent(u.username);
    database = c.database ?? (db === '' ? DEFAULT_DATABASE : db);
  } else {
    if (c.host === undefined) throw configError(resource, 'url', 'give the admin connection: url, or host, port, database and user');
    if (c.user === undefined) throw configError(resource, 'user', 'give the admin user (a role with CREATEROLE; see docs/connectors/postgres.md)');
    host = c.host;
    port = c.port ?? 5432;
    user = c.user;
    database = c.database ?? DEFAULT_DATABASE;
  }

  if (c.passwordEnv !== undefined && c.passwordFile !== undefined) throw configError(resource, 'passwordFile', 'give passwordEnv or passwordFile, not both');
  if (c.passwordEnv === undefined && c.passwordFile === undefined) {
    throw configError(resource, 'passwordEnv', "give the admin password's environment variable (passwordEnv) or file (passwordFile); the password itself never goes in the config file");
  }

  if (latchRoles) {
    for (const role of latchRoles) {
      if (!hasOwn(c.roles, role)) throw configError(resource, `roles.${role}`, `Latch role "${role}" has no PostgreSQL role to grant; map it, e.g. roles: { ${role}: app_${role.replaceAll('-', '_')} }`);
    }
    for (const role of Object.keys(c.roles)) {
      if (!latchRoles.includes(role)) throw configError(resource, `roles.${role}`, `the resource has no Latch role "${role}" (it has ${latchRoles.join(', ')})`);
    }
  }

  return {
    host, port, database, user, sslmode: sslmode ?? 'disable',
    secret: { env: c.passwordEnv, file: c.passwordFile },
    roles: c.roles, reassignOwnedTo: c.reassignOwnedTo ?? user,
  };
}

const sslOption = (mode: PgResource['sslmode']): pg.ClientConfig['ssl'] => (mode === 'disable' ? false : mode === 'require' ? { rejectUnauthorized: false } : true);

// ---- the connector ----------------------------------------------------------------------------

export interface PostgresConnectorOptions {
  log: Logger;
  /** How long revoke waits for terminated sessions to disappear before it counts as failed. */
  sessionWaitMs?: number;
  /** Connections per admin pool. */
  poolSize?: number;
  /**
   * How long an admin statement waits for a lock (PostgreSQL `lock_timeout`). A revoke step that
   * waits on a lock another session holds (REASSIGN OWNED on a table someone has open) fails after
   * this and is retried with backoff, instead of holding an admin connection indefinitely (B09).
   */
  lockTimeoutMs?: number;
  /** The longest any admin statement may run (PostgreSQL `statement_timeout`). */
  statementTimeoutMs?: number;
}

interface AdminPool {
  pool: pg.Pool;
  /** Every admin password read, to scrub from any message (defence in depth). */
  secrets: Set<string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sqlState = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};
const UNDEFINED_OBJECT = '42704';

/** An error already worded for a person (where, what, what to do); passed on as it is. */
class PgConnectorError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

/** What a person should do about a PostgreSQL error, by SQLSTATE / Node error code. */
function hintFor(code: string | undefined, r: PgResource, as: 'admin' | 'grantee'): string {
  if (as === 'grantee') {
    switch (code) {
      case '28P01':
        return "; the new role's password was refused: check pg_hba.conf allows password logins (scram-sha-256 or md5) from the Latch server, and that PostgreSQL's clock is not past the grant end (VALID UNTIL)";
      case '28000':
        return '; check pg_hba.conf allows the per-grant roles to log in from the Latch server';
      case '42501':
        return `; the target roles need CONNECT on database ${r.database}`;
    }
  }
  switch (code) {
    case '28P01':
    case '28000':
      return `; check the admin password (${r.secret.env ? `environment variable ${r.secret.env}` : `file ${r.secret.file}`}) and pg_hba.conf`;
    case '42501':
      return `; the admin role ${r.user} lacks a privilege (it needs CREATEROLE, and on PostgreSQL 16+ ADMIN OPTION on each target role; see docs/connectors/postgres.md)`;
    case '2BP01':
      return '; it owns objects or holds privileges in another database (see above): reassign or drop them there, and the next attempt succeeds';
    case '55P03':
      return '; another session holds a lock on something this role owns (see pg_locks); it is retried, and succeeds once that transaction ends';
    case '57014':
      return '; the statement ran past the admin statement_timeout; it is retried';
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return '; is PostgreSQL running and reachable from the Latch server?';
    default:
      return '';
  }
}

export function postgresConnector(opts: PostgresConnectorOptions): Connector {
  const log = opts.log.child({ connector: 'postgres' });
  const sessionWaitMs = opts.sessionWaitMs ?? 10_000;
  const pools = new Map<string, AdminPool>();
  const resolved = new Map<string, PgResource>();
  /** Sessions terminated by attempts that then failed, added to the successful attempt's count. */
  const terminatedEarlier = new Map<string, number>();

  const resolve = (t: Pick<GrantTarget, 'config' | 'resource'>): PgResource => {
    const key = `${t.resource}\0${JSON.stringify(t.config)}`;
    let r = resolved.get(key);
    if (!r) {
      r = parsePgConfig(t.config, t.resource);
      resolved.set(key, r);
    }
    return r;
  };

  const adminPool = (r: PgResource): AdminPool => {
    const key = JSON.stringify([r.host, r.port, r.database, r.user, r.sslmode, r.secret.env ?? null, r.secret.file ?? null]);
    let p = pools.get(key);
    if (p) return p;
    const secrets = new Set<string>();
    const pool = new pg.Pool({
      host: r.host, port: r.port, database: r.database, user: r.user, ssl: sslOption(r.sslmode),
      // Read on every new connection, so a rotated password file is picked up without a restart.
      password: () => {
        const pw = readSecret(r.secret, `the postgres admin password for ${r.user}@${r.host}`);
        secrets.add(pw);
        return pw;
      },
      max: opts.poolSize ?? 4, idleTimeoutMillis: 10_000, connectionTimeoutMillis: 10_000, allowExitOnIdle: true, application_name: 'latch',
      // Enforced by the server on every admin statement, so no connection is held longer than this
      // whatever the client does; a revoke's steps add up to well under the lifecycle's 60 s.
      lock_timeout: opts.lockTimeoutMs ?? 5000, statement_timeout: opts.statementTimeoutMs ?? 15_000,
    });
    // An idle connection dropped by the server must not crash the process.
    pool.on('error', (err) => log.warn({ host: r.host, port: r.port, error: err.message }, 'idle PostgreSQL admin connection failed; it will be replaced'));
    p = { pool, secrets };
    pools.set(key, p);
    return p;
  };

  const scrub = (message: string, secrets: Iterable<string>) => {
    let m = message;
    for (const s of secrets) if (s.length >= 4) m = m.replaceAll(s, '[redacted]');
    return m;
  };

  /** An Error that says where, what and what to do; never a password. */
  const failure = (r: PgResource, p: AdminPool, resource: string, step: string, err: unknown, extra: string[] = [], as: 'admin' | 'grantee' = 'admin'): Error => {
    const code = sqlState(err);
    const detail = (err as { detail?: unknown } | null)?.detail;
    const raw = `${err instanceof Error ? err.message : String(err)}${typeof detail === 'string' && detail !== '' ? ` (${detail.replaceAll('\n', '; ')})` : ''}`;
    const message = scrub(raw, [...p.secrets, ...extra]);
    const state = code && /^[0-9A-Z]{5}$/.test(code) ? ` (SQLSTATE ${code})` : '';
    return new PgConnectorError(`PostgreSQL at ${r.host}:${r.port}/${r.database} (resource ${resource}): ${step}: ${message}${state}${hintFor(code, r, as)}`, code);
  };

  /**
   * Runs `fn` on one admin connection; on error rolls back (a no-op outside a transaction) and always
   * releases. When `signal` aborts (the caller gave up on the call), the connection is dropped at
   * once, so its pool slot is free for other grants; the server ends the statement by its timeouts.
   */
  const withAdmin = async <T>(r: PgResource, p: AdminPool, resource: string, fn: (c: pg.PoolClient) => Promise<T>, secrets: string[] = [], signal?: AbortSignal): Promise<T> => {
    let client: pg.PoolClient;
    try {
      client = await p.pool.connect();
    } catch (err) {
      throw failure(r, p, resource, 'connecting as the admin', err, secrets);
    }
    let released = false;
    const release = (destroy: boolean) => {
      if (released) return;
      released = true;
      client.release(destroy);
    };
    const onAbort = () => {
      const pid = (client as unknown as { processID: number | null }).processID;
      release(true);
      // Closing our end does not stop a backend that waits on a lock: it would run the rest of
      // its batch once the lock is free, racing the retry. End it on the server too (an admin may
      // always signal its own role's backends).
      if (pid !== null) void p.pool.query('SELECT pg_terminate_backend($1)', [pid]).catch((err: unknown) => log.warn({ resource, err: err instanceof Error ? err.message : String(err) }, 'could not end a given-up admin session'));
    };
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let broken = false;
    try {
      if (released) throw new Error('the call was given up before it started');
      return await fn(client);
    } catch (err) {
      if (!released) await client.query('ROLLBACK').catch(() => (broken = true));
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      release(broken);
    }
  };

  const roleExists = async (client: pg.ClientBase, role: string) => (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount === 1;

  const targetRole = (r: PgResource, t: GrantTarget): string => {
    const target = own(r.roles, t.role);
    if (target === undefined) throw new Error(`resource ${t.resource}: config.roles.${t.role}: Latch role "${t.role}" has no PostgreSQL role to grant; map it in the config`);
    return target;
  };

  const validUntil = (ms: number) => new Date(ms).toISOString(); // always UTC with "Z" (B06a)

  async function provision(t: GrantTarget): Promise<Provisioned> {
    const r = resolve(t);
    const target = targetRole(r, t);
    const p = adminPool(r);
    const role = roleNameFor(t.grantId);
    const password = newPassword();
    const verifier = await scramVerifier(password);
    const q = quoteIdent(role);

    let step = `creating role ${role}`;
    try {
      await withAdmin(r, p, t.resource, async (client) => {
        await client.query('BEGIN');
        // A retry finds the role of an earlier attempt: reset its password and validity (idempotent).
        const exists = await roleExists(client, role);
        if (exists) step = `resetting role ${role}`;
        await client.query(`${exists ? 'ALTER' : 'CREATE'} ROLE ${q} WITH LOGIN INHERIT PASSWORD ${quoteLiteral(verifier)} VALID UNTIL ${quoteLiteral(validUntil(t.expiresAt))}`);
        step = `granting ${target} to ${role}`;
        await client.query(`GRANT ${quoteIdent(target)} TO ${q}`);
        step = `commenting role ${role}`;
        await client.query(`COMMENT ON ROLE ${q} IS ${quoteLiteral(`Latch grant ${t.grantId}: ${t.user}, ${t.resource}/${t.role}, until ${validUntil(t.expiresAt)}`)}`);
        await client.query('COMMIT');
      }, [password]);
    } catch (err) {
      if (sqlState(err) === UNDEFINED_OBJECT && step.startsWith('granting')) {
        throw new PgConnectorError(`PostgreSQL at ${r.host}:${r.port}/${r.database} (resource ${t.resource}): the target role ${target} (config.roles.${t.role}) does not exist; create it or fix the mapping`);
      }
      throw err instanceof PgConnectorError ? err : failure(r, p, t.resource, step, err, [password]);
    }

    // Before reporting active, prove it (FIELD-CASES B03): log in as the new role and check the membership.
    const check = new pg.Client({
      host: r.host, port: r.port, database: r.database, user: role, password, ssl: sslOption(r.sslmode),
      connectionTimeoutMillis: 10_000, application_name: 'latch-login-check',
    });
    check.on('error', () => undefined); // a late socket error after end() is not ours to report
    let pid: number;
    let member: boolean;
    let runsAs: string;
    try {
      await check.connect();
      const res = await check.query<{ pid: number; member: boolean; runs_as: string }>(`SELECT pg_backend_pid() AS pid, current_user AS runs_as, pg_has_role(current_user, $1, 'USAGE') AS member`, [target]);
      pid = res.rows[0]!.pid;
      member = res.rows[0]!.member;
      runsAs = res.rows[0]!.runs_as;
    } catch (err) {
      throw failure(r, p, t.resource, `the new role ${role} could not log in (the check before the grant is reported active)`, err, [password], 'grantee');
    } finally {
      await check.end().catch(() => undefined);
    }
    if (!member) {
      // A session that starts as another role (ALTER ROLE/DATABASE … SET role) or a NOINHERIT role
      // would log in fine and still lack what the grant is for (FIELD-CASES B03).
      const why = runsAs === role
        ? 'is it NOINHERIT?'
        : `its sessions run as ${runsAs} (a "role" setting: see ALTER DATABASE ${r.database} RESET role / ALTER ROLE ALL RESET role)`;
      throw new PgConnectorError(`PostgreSQL at ${r.host}:${r.port}/${r.database} (resource ${t.resource}): role ${role} logged in but does not hold the privileges of ${target}; ${why}`);
    }
    // The check's own session must be gone before we return, or a revoke right away would count it.
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline) {
      const left = await p.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]).catch(() => ({ rowCount: 0 }));
      if (left.rowCount === 0) break;
      await sleep(5);
    }

    log.info({ grant: t.grantId, resource: t.resource, role, member_of: target, validUntil: validUntil(t.expiresAt) }, 'postgres role provisioned');
    const host = r.host.includes(':') ? `[${r.host}]` : r.host;
    const ssl = r.sslmode === 'disable' ? '' : `?sslmode=${r.sslmode}`;
    const url = `postgresql://${role}:${encodeURIComponent(password)}@${host}:${r.port}/${encodeURIComponent(r.database)}${ssl}`;
    return {
      credential: {
        type: 'postgres', host: r.host, port: r.port, database: r.database, user: role, password, url,
        // The command to connect, ready to paste. Single quotes are safe: the role name, the
        // base64url password and the encoded database hold none.
        command: `psql '${url}'`,
      },
    };
  }

  async function revoke(t: GrantTarget, signal?: AbortSignal): Promise<Revoked> {
    const r = resolve(t);
    const p = adminPool(r);
    const role = roleNameFor(t.grantId);
    const q = quoteIdent(role);

    let step = `disabling login of ${role}`;
    const terminated = new Set<number>();
    let outcome: 'revoked' | 'absent';
    try {
      outcome = await withAdmin(r, p, t.resource, async (client) => {
        // 1. No new logins, whatever the authentication method.
        try {
          await client.query(`ALTER ROLE ${q} NOLOGIN`);
        } catch (err) {
          // Dropped by someone else: that is revoked (FIELD-CASES B07); no retry.
          if (sqlState(err) === UNDEFINED_OBJECT) return 'absent';
          throw err;
        }

        // 2. The admin takes the role's privileges: that lets it see the role's sessions in full,
        // terminate them (no pg_signal_backend needed) and REASSIGN/DROP OWNED below. Already a
        // member (a retry) is only a NOTICE.
        step = `taking membership in ${role}`;
        try {
          await client.query(`GRANT ${q} TO CURRENT_USER`);
        } catch (err) {
          // Dropped by someone else (or an earlier attempt) since step 1: revoked too.
          if (sqlState(err) === UNDEFINED_OBJECT && !(await roleExists(client, role))) return 'absent';
          throw err;
        }

        // 3. End every session of the role, and wait until none is left (B04). A session that did
        // SET ROLE still shows its session user in usename, so it is found too.
        step = `terminating the sessions of ${role}`;
        const deadline = Date.now() + sessionWaitMs;
        for (;;) {
          const res = await client.query<{ pid: number; backend_type: string | null }>(
            `SELECT pid, backend_type, pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`,
            [role],
          );
          if (res.rows.length === 0) break;
          for (const row of res.rows) if ((row.backend_type ?? 'client backend') === 'client backend') terminated.add(row.pid);
          if (Date.now() > deadline) throw new Error(`${res.rows.length} session(s) still present ${sessionWaitMs} ms after pg_terminate_backend`);
          await sleep(5); // a terminated backend takes a few milliseconds to go
        }

        // 4. Hand over what the role created, drop what it was granted, drop it (B09): one
        // transaction, sent as one simple-protocol batch.
        step = `reassigning what ${role} owns to ${r.reassignOwnedTo}, DROP OWNED, DROP ROLE`;
        try {
          await client.query(`BEGIN; REASSIGN OWNED BY ${q} TO ${quoteIdent(r.reassignOwnedTo)}; DROP OWNED BY ${q}; DROP ROLE ${q}; COMMIT`);
        } catch (err) {
          if (sqlState(err) !== UNDEFINED_OBJECT) throw err;
          await client.query('ROLLBACK');
          // Dropped by someone else meanwhile counts as revoked; otherwise the new owner is missing.
          if (!(await roleExists(client, role))) return 'absent';
          throw new Error(`the reassignOwnedTo role ${r.reassignOwnedTo} does not exist; create it or fix config.reassignOwnedTo (${role} can no longer log in and has no sessions)`);
        }
        return 'revoked';
      }, [], signal);
    } catch (err) {
      terminatedEarlier.set(t.grantId, (terminatedEarlier.get(t.grantId) ?? 0) + terminated.size);
      throw err instanceof PgConnectorError ? err : failure(r, p, t.resource, step, err);
    }
    const sessionsTerminated = terminated.size + (terminatedEarlier.get(t.grantId) ?? 0);
    terminatedEarlier.delete(t.grantId);
    if (outcome === 'absent') {
      log.info({ grant: t.grantId, resource: t.resource, role }, 'postgres role already absent');
      return { audit: sessionsTerminated > 0 ? { note: 'already_absent', role, sessionsTerminated } : { note: 'already_absent', role } };
    }
    log.info({ grant: t.grantId, resource: t.resource, role, sessionsTerminated }, 'postgres role revoked');
    return { audit: { sessionsTerminated, role } };
  }

  async function extend(t: GrantTarget): Promise<void> {
    const r = resolve(t);
    const p = adminPool(r);
    const role = roleNameFor(t.grantId);
    try {
      await p.pool.query(`ALTER ROLE ${quoteIdent(role)} VALID UNTIL ${quoteLiteral(validUntil(t.expiresAt))}`);
    } catch (err) {
      if (sqlState(err) === UNDEFINED_OBJECT) throw new PgConnectorError(`PostgreSQL at ${r.host}:${r.port}/${r.database} (resource ${t.resource}): role ${role} no longer exists, so the grant cannot be extended`);
      throw failure(r, p, t.resource, `moving VALID UNTIL of ${role}`, err);
    }
    log.info({ grant: t.grantId, resource: t.resource, role, validUntil: validUntil(t.expiresAt) }, 'postgres role extended');
  }

  return {
    kind: 'postgres',
    checkConfig(config, resource, roles) {
      const r = parsePgConfig(config, resource, roles);
      // Fail at start, not at the first grant, when the admin password cannot be read.
      try {
        readSecret(r.secret, 'the admin password');
      } catch (err) {
        throw configError(resource, r.secret.env ? 'passwordEnv' : 'passwordFile', (err as Error).message);
      }
    },
    provision,
    revoke,
    extend,
    async close() {
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((p) => p.pool.end().catch(() => undefined)));
    },
  };
}
