/**
 * Schema migrations, written once for both dialects through Kysely's schema builder. Statuses are
 * CHECK constraints as well as TypeScript unions (FIELD-CASES B21), so a typo fails loudly.
 */
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { END_REASONS, GRANT_STATES, REQUEST_KINDS, REQUEST_STATES } from '../../shared/states.js';

const oneOf = (column: string, values: readonly string[]) =>
  sql.raw(`${column} in (${values.map((v) => `'${v}'`).join(', ')})`);

const m001: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.createTable('meta').addColumn('key', 'text', (c) => c.primaryKey()).addColumn('value', 'text', (c) => c.notNull()).execute();
    await db.schema
      .createTable('users')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('user_groups')
      .addColumn('user_name', 'text', (c) => c.notNull().references('users.name'))
      .addColumn('group_name', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull().check(oneOf('source', ['cli', 'config'])))
      .addPrimaryKeyConstraint('user_groups_pk', ['user_name', 'group_name', 'source'])
      .execute();
    await db.schema
      .createTable('enrollment_codes')
      .addColumn('code_hash', 'text', (c) => c.primaryKey())
      .addColumn('user_name', 'text', (c) => c.notNull().references('users.name'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .execute();
    await db.schema
      .createTable('devices')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_name', 'text', (c) => c.notNull().references('users.name'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('refresh_hash', 'text', (c) => c.notNull().unique())
      .addColumn('prev_refresh_hash', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_used_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .execute();
    await db.schema
      .createTable('requests')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull().check(oneOf('kind', REQUEST_KINDS)))
      .addColumn('state', 'text', (c) => c.notNull().check(oneOf('state', REQUEST_STATES)))
      .addColumn('requester', 'text', (c) => c.notNull().references('users.name'))
      .addColumn('resource', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('duration_ms', 'bigint', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('start_at', 'bigint')
      .addColumn('break_glass', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('public_key', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('request_expires_at', 'bigint', (c) => c.notNull())
      .addColumn('decided_at', 'bigint')
      .addColumn('decided_by', 'text')
      .addColumn('decision_comment', 'text')
      .addColumn('policy_json', 'text', (c) => c.notNull())
      .addColumn('grant_id', 'text')
      .addColumn('idempotency_key', 'text')
      .execute();
    await db.schema.createIndex('requests_state_expiry').on('requests').columns(['state', 'request_expires_at']).execute();
    await db.schema.createIndex('requests_requester').on('requests').columns(['requester', 'created_at']).execute();
    await db.schema
      .createTable('reviews')
      .addColumn('request_id', 'text', (c) => c.notNull().references('requests.id'))
      .addColumn('reviewer', 'text', (c) => c.notNull())
      .addColumn('decision', 'text', (c) => c.notNull().check(oneOf('decision', ['approve', 'deny'])))
      .addColumn('comment', 'text')
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('reviews_pk', ['request_id', 'reviewer'])
      .execute();
    await db.schema
      .createTable('grants')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('request_id', 'text', (c) => c.notNull().unique().references('requests.id'))
      .addColumn('user_name', 'text', (c) => c.notNull())
      .addColumn('resource', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('connector', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull().check(oneOf('state', GRANT_STATES)))
      .addColumn('end_reason', 'text', (c) => c.check(sql`end_reason is null or ${oneOf('end_reason', END_REASONS)}`))
      .addColumn('duration_ms', 'bigint', (c) => c.notNull())
      .addColumn('start_at', 'bigint')
      .addColumn('activated_at', 'bigint')
      .addColumn('expires_at', 'bigint')
      .addColumn('ended_at', 'bigint')
      .addColumn('failure_reason', 'text')
      .addColumn('extensions_used', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('break_glass', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('policy_json', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text')
      .addColumn('target_json', 'text', (c) => c.notNull())
      .addColumn('credential_enc', 'text')
      .addColumn('revoke_attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_revoke_at', 'bigint')
      .addColumn('last_revoke_error', 'text')
      .addColumn('revoke_due_at', 'bigint')
      .execute();
    await db.schema.createIndex('grants_state_expires').on('grants').columns(['state', 'expires_at']).execute();
    await db.schema.createIndex('grants_user').on('grants').columns(['user_name', 'state']).execute();
    await db.schema
      .createTable('events')
      .addColumn('id', 'bigint', (c) => c.primaryKey())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('actor', 'text')
      .addColumn('request_id', 'text')
      .addColumn('grant_id', 'text')
      .addColumn('data_json', 'text', (c) => c.notNull())
      .addColumn('audience_json', 'text', (c) => c.notNull())
      .addColumn('prev_hash', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('idempotency')
      .addColumn('user_name', 'text', (c) => c.notNull())
      .addColumn('idem_key', 'text', (c) => c.notNull())
      .addColumn('body_hash', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('idempotency_pk', ['user_name', 'idem_key'])
      .execute();
  },
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return { '001_initial': m001 };
  },
};
