/**
 * A throwaway PostgreSQL cluster for integration tests: initdb as the `postgres` user in a temp
 * dir it owns (initdb refuses to run as root), a loopback port, removed afterwards.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { freePort } from './net.js';

export const PG_BIN = process.env.LATCH_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PgCluster {
  host: string;
  port: number;
  superuser: string;
  password: string;
  url(db?: string, user?: string, password?: string): string;
  stop(): Promise<void>;
}

/** Why a cluster cannot be started here, or null when it can. */
export function pgUnavailable(): string | null {
  if (!existsSync(join(PG_BIN, 'initdb'))) return `PostgreSQL server binaries (${PG_BIN}/initdb; apt-get install postgresql-15)`;
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    try {
      execFileSync('id', ['postgres'], { stdio: 'ignore' });
    } catch {
      return 'a "postgres" system user to run initdb as (apt-get install postgresql-15)';
    }
  }
  return null;
}

export async function startPgCluster(opts: { timezone?: string } = {}): Promise<PgCluster> {
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'latch-pg-'));
  const data = join(dir, 'data');
  const password = `pw${Math.random().toString(36).slice(2)}`;
  const pwFile = join(dir, 'pw');
  writeFileSync(pwFile, password);
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
    chownSync(pwFile, uid, gid);
  }
  chmodSync(dir, 0o700);
  const run = (cmd: string, args: string[]) => (asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args], { stdio: 'pipe' }) : execFileSync(join(PG_BIN, cmd), args, { stdio: 'pipe' }));
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwFile}`, '-E', 'UTF8', '--locale=C.UTF-8']);
  const port = await freePort();
  const conf = [`listen_addresses = '127.0.0.1'`, `port = ${port}`, `unix_socket_directories = '${dir}'`, `max_connections = 300`, `fsync = off`, `synchronous_commit = off`, `full_page_writes = off`];
  if (opts.timezone) conf.push(`timezone = '${opts.timezone}'`);
  writeFileSync(join(data, 'postgresql.auto.conf'), conf.join('\n') + '\n');
  if (asRoot) execFileSync('chown', ['postgres:postgres', join(data, 'postgresql.auto.conf')]);
  run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  const cluster: PgCluster = {
    host: '127.0.0.1', port, superuser: 'postgres', password,
    url: (db = 'postgres', user = 'postgres', pw = password) => `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(pw)}@127.0.0.1:${port}/${db}`,
    async stop() {
      await new Promise<void>((resolve) => {
        const args = ['-D', data, '-m', 'immediate', '-w', 'stop'];
        const p = asRoot ? spawn('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), ...args], { stdio: 'ignore' }) : spawn(join(PG_BIN, 'pg_ctl'), args, { stdio: 'ignore' });
        p.on('exit', () => resolve());
        p.on('error', () => resolve());
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

export interface PgTarget {
  /** A superuser connection to the `postgres` database (close it with `end()`). */
  su: pg.Client;
  /** The connector's admin role: `latch_admin`, its password in `process.env[passwordEnv]`. */
  admin: string;
}

/**
 * What every postgres suite sets up on a fresh cluster: the connector's admin as
 * docs/connectors/postgres.md has it (LOGIN CREATEROLE, no superuser), with a random password in
 * `process.env[passwordEnv]`; the NOLOGIN target roles; and databases, each with its SQL run in it.
 */
export async function prepareTarget(cluster: PgCluster, opts: { passwordEnv: string; roles: string[]; databases: Record<string, string[]> }): Promise<PgTarget> {
  const su = new pg.Client({ connectionString: cluster.url() });
  await su.connect();
  const password = `adm-${randomBytes(12).toString('hex')}`;
  await su.query(`CREATE ROLE latch_admin LOGIN CREATEROLE PASSWORD '${password}'`);
  for (const role of opts.roles) await su.query(`CREATE ROLE ${role} NOLOGIN`);
  for (const [db, statements] of Object.entries(opts.databases)) {
    await su.query(`CREATE DATABASE ${db}`);
    const c = new pg.Client({ connectionString: cluster.url(db) });
    await c.connect();
    try {
      for (const sql of statements) await c.query(sql);
    } finally {
      await c.end();
    }
  }
  process.env[opts.passwordEnv] = password;
  return { su, admin: 'latch_admin' };
}

/** A new login with a connection URL, as a grantee would: null when it works, else the error message. */
export async function loginError(url: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}
