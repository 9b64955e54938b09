/**
 * The event log: one table, increasing ids, each row hash-chained to the one before (DESIGN.md,
 * "Event"). It feeds the SSE stream and is the audit trail. Rows are appended inside the caller's
 * write transaction, so an event exists exactly when its state change does.
 */
import { createHash } from 'node:crypto';
import type { EventType, EventView } from '../../shared/api.js';
import type { Db } from '../store/open.js';
import type { EventsTable } from '../store/schema.js';

export const GENESIS_HASH = '0'.repeat(64);

/** Who may see an event on their stream: named users, plus everyone when `all`. */
export interface Audience {
  users: string[];
  all?: boolean;
}

export interface NewEvent {
  type: EventType;
  actor: string | null;
  requestId?: string | null;
  grantId?: string | null;
  data?: Record<string, unknown>;
  audience: Audience;
}

export interface StoredEvent extends EventView {
  audience: Audience;
  prevHash: string;
  hash: string;
}

/** Canonical JSON (sorted keys) so a hash never depends on property order. */
export function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

export function hashRow(row: Omit<EventsTable, 'hash'>): string {
  const body = canonical({
    id: Number(row.id), type: row.type, at: Number(row.at), actor: row.actor, request_id: row.request_id,
    grant_id: row.grant_id, data: row.data_json, audience: row.audience_json,
  });
  return createHash('sha256').update(row.prev_hash).update('\n').update(body).digest('hex');
}

export async function appendEvent(tx: Db, at: number, e: NewEvent): Promise<StoredEvent> {
  const last = await tx.selectFrom('events').select(['id', 'hash']).orderBy('id', 'desc').limit(1).executeTakeFirst();
  const row: Omit<EventsTable, 'hash'> = {
    id: last ? Number(last.id) + 1 : 1,
    type: e.type,
    at,
    actor: e.actor,
    request_id: e.requestId ?? null,
    grant_id: e.grantId ?? null,
    data_json: JSON.stringify(e.data ?? {}),
    audience_json: JSON.stringify({ users: [...new Set(e.audience.users)].sort(), all: e.audience.all ?? false }),
    prev_hash: last?.hash ?? GENESIS_HASH,
  };
  const hash = hashRow(row);
  await tx.insertInto('events').values({ ...row, hash }).execute();
  await tx
    .insertInto('meta')
    .values({ key: 'audit_head', value: `${row.id}:${hash}` })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: `${row.id}:${hash}` }))
    .execute();
  return toStored({ ...row, hash });
}

export function toStored(row: EventsTable): StoredEvent {
  return {
    id: Number(row.id),
    type: row.type as EventType,
    at: new Date(Number(row.at)).toISOString(),
    actor: row.actor,
    requestId: row.request_id,
    grantId: row.grant_id,
    data: JSON.parse(row.data_json) as Record<string, unknown>,
    audience: JSON.parse(row.audience_json) as Audience,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export function isVisibleTo(e: { audience: Audience }, user: { name: string; admin: boolean }): boolean {
  return e.audience.all === true || user.admin || e.audience.users.includes(user.name);
}

export function toView(e: StoredEvent): EventView {
  return { id: e.id, type: e.type, at: e.at, actor: e.actor, requestId: e.requestId, grantId: e.grantId, data: e.data };
}
