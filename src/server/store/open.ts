/**
 * Opens the store: one SQLite file in WAL mode with a 5 s busy timeout on every connection
 * (FIELD-CASES B14), migrated on open, behind Kysely so PostgreSQL is a second dialect.
 * `secure_delete` zeroes the space a changed or deleted row leaves, and `checkpoint()` empties the
 * WAL, which still holds earlier versions of changed pages: together they make a wiped credential
 * gone from disk, not only from the column (issue 3).
 */
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import { migrationProvider } from './migrations.js';

export type Db = Kysely<Database>;
/** A connection inside a write transaction. */
export type Tx = Kysely<Database> | Transaction<Database>;

export interface Store {
  db: Db;
  dialect: 'sqlite';
  file: string;
  /**
   * Runs `fn` in one write transaction that holds the write lock from its first statement
   * (`BEGIN IMMEDIATE`), so compare-and-set updates and the audit chain never interleave, across
   * processes too.
   */
  write<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /**
   * Copies the WAL into the database file and truncates it to zero bytes. Returns false when a
   * reader (another process) kept it from completing; the next call tries again.
   */
  checkpoint(): Promise<boolean>;
  close(): Promise<void>;
}

export const BUSY_TIMEOUT_MS = 5000;

/** The store's files: the database, its write-ahead log and its shared-memory index. */
export const STORE_FILES = ['latch.db', 'latch.db-wal', 'latch.db-shm'] as const;

/**
 * The store holds sealed credentials, refresh-token hashes and the audit trail, so what Latch
 * creates is the owner's only, whatever the umask (as the key files are): the data dir 0700 and the
 * database 0600 before SQLite opens it. SQLite gives the -wal and -shm files the database's mode;
 * they are set again once they exist, so no umask or SQLite build leaves them readable.
 */
export function openSqlite(dataDir: string): SQLite.Database {
  const madeDir = mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (madeDir !== undefined) chmodSync(dataDir, 0o700);
  const file = join(dataDir, 'latch.db');
  const madeFile = createPrivate(file);
  const raw = new SQLite(file);
  raw.pragma('journal_mode = WAL');
  if (madeFile) {
    for (const name of STORE_FILES.slice(1)) {
      try {
        chmodSync(join(dataDir, name), 0o600);
      } catch (err) {
        // SQLite makes them on first use; one not there yet gets the database's mode when it is.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
  raw.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  raw.pragma('foreign_keys = ON');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('secure_delete = ON');
  return raw;
}

/** Creates `file` empty with mode 0600 unless it exists; true when it did. */
function createPrivate(file: string): boolean {
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  // openSync's mode passes through the umask; chmod does not.
  chmodSync(file, 0o600);
  return true;
}

/**
 * The data dir and store files that others than their owner may read or write (a store made by an
 * older Latch, or a dir made by hand), with their modes, for a warning at start.
 */
export function openToOthers(dataDir: string): { path: string; mode: string }[] {
  const out: { path: string; mode: string }[] = [];
  for (const path of [dataDir, ...STORE_FILES.map((f) => join(dataDir, f))]) {
    let mode: number;
    try {
      mode = statSync(path).mode & 0o777;
    } catch {
      continue;
    }
    if ((mode & 0o077) !== 0) out.push({ path, mode: mode.toString(8).padStart(4, '0') });
  }
  return out;
}

export async function openStore(dataDir: string): Promise<Store> {
  const raw = openSqlite(dataDir);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  await migrate(db);
  return {
    db,
    dialect: 'sqlite',
    file: raw.name,
    write: (fn) =>
      db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          const result = await fn(conn);
          await sql`commit`.execute(conn);
          return result;
        } catch (err) {
          await sql`rollback`.execute(conn).catch(() => undefined);
          throw err;
        }
      }),
    async checkpoint() {
      const r = await sql<{ busy: number }>`pragma wal_checkpoint(truncate)`.execute(db);
      return r.rows[0]?.busy === 0;
    },
    close: () => db.destroy(),
  };
}

async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`could not migrate the store${failed ? ` (${failed.migrationName})` : ''}: ${String(error)}`);
  }
}
