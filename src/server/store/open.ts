/**
 * Opens the store: one SQLite file in WAL mode with a 5 s busy timeout on every connection
 * (FIELD-CASES B14), migrated on open, behind Kysely so PostgreSQL is a second dialect.
 * `secure_delete` zeroes the space a changed or deleted row leaves, and `checkpoint()` empties the
 * WAL, which still holds earlier versions of changed pages: together they make a wiped credential
 * gone from disk, not only from the column (issue 3).
 */
import { mkdirSync } from 'node:fs';
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

export function openSqlite(dataDir: string): SQLite.Database {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'latch.db');
  const raw = new SQLite(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  raw.pragma('foreign_keys = ON');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('secure_delete = ON');
  return raw;
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
