/**
 * Users, groups, enrollment codes and devices. Group membership is the union of the config's
 * `members` lists (source `config`, kept in step on start and reload) and `latch admin user add
 * --group` (source `cli`).
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { LatchConfig } from '../../shared/config.js';
import type { Principal } from '../../shared/policy.js';
import type { Db, Store } from '../store/open.js';
import { appendEvent, type StoredEvent } from '../events/log.js';
import { ApiError } from '../http/errors.js';

export const ENROLLMENT_TTL_MS = 7 * 24 * 3_600_000;

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
export const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, '').slice(0, 16).padEnd(16, '0')}`;

// Crockford-style alphabet: no 0/O or 1/I/L to misread when a code is read aloud.
const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
function newCode(): string {
  const chars = Array.from({ length: 15 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]);
  return [chars.slice(0, 5), chars.slice(5, 10), chars.slice(10)].map((c) => c.join('')).join('-');
}
/**
 * Codes are compared case-insensitively and without dashes or spaces: a code is shown in upper case
 * and read aloud or retyped in any case; a chat app may turn its dashes into typographic ones.
 */
export const normalizeCode = (code: string) => code.toUpperCase().replace(/[\s\-\u2010-\u2015\u2212]/g, '');

export async function loadPrincipal(db: Db, name: string): Promise<Principal | undefined> {
  const user = await db.selectFrom('users').select(['name', 'admin']).where('name', '=', name).executeTakeFirst();
  if (!user) return undefined;
  const groups = await db.selectFrom('user_groups').select('group_name').distinct().where('user_name', '=', name).orderBy('group_name').execute();
  return { name: user.name, admin: user.admin === 1, groups: groups.map((g) => g.group_name) };
}

export async function listPrincipals(db: Db): Promise<Principal[]> {
  const users = await db.selectFrom('users').select(['name', 'admin']).orderBy('name').execute();
  const byUser = new Map<string, Set<string>>();
  for (const m of await db.selectFrom('user_groups').select(['user_name', 'group_name']).execute()) {
    let groups = byUser.get(m.user_name);
    if (!groups) byUser.set(m.user_name, (groups = new Set()));
    groups.add(m.group_name);
  }
  return users.map((u) => ({ name: u.name, admin: u.admin === 1, groups: [...(byUser.get(u.name) ?? [])].sort() }));
}

export async function issueEnrollmentCode(tx: Db, user: string, now: number): Promise<string> {
  const code = newCode();
  await tx.insertInto('enrollment_codes').values({ code_hash: sha256(normalizeCode(code)), user_name: user, created_at: now, expires_at: now + ENROLLMENT_TTL_MS, used_at: null }).execute();
  return code;
}

export interface AddUser { name: string; groups: string[]; admin: boolean }

/** The group names of the config the server last loaded (for `latch admin --data-dir`, which has no config). */
export async function knownGroups(db: Db): Promise<string[] | null> {
  const row = await db.selectFrom('meta').select('value').where('key', '=', 'config_groups').executeTakeFirst();
  return row ? (JSON.parse(row.value) as string[]) : null;
}

/** Adds a user and returns their one-time enrollment code. Groups must exist in the config. */
export async function addUser(store: Store, input: AddUser, actor: string | null, now: number): Promise<{ user: string; code: string; events: StoredEvent[] }> {
  const groups = await knownGroups(store.db);
  const unknown = groups === null ? [] : input.groups.filter((g) => !groups.includes(g));
  if (unknown.length > 0) {
    throw new ApiError(422, 'validation_failed', `no group named ${unknown.map((g) => `"${g}"`).join(', ')} in the configuration (groups: ${groups!.join(', ') || 'none'}); add it under groups first`);
  }
  return store.write(async (tx) => {
    const exists = await tx.selectFrom('users').select('name').where('name', '=', input.name).executeTakeFirst();
    if (exists) throw new ApiError(409, 'conflict', `user "${input.name}" already exists; issue a new code with \`latch admin user code ${input.name}\``);
    await tx.insertInto('users').values({ name: input.name, admin: input.admin ? 1 : 0, created_at: now }).execute();
    for (const g of new Set(input.groups)) await tx.insertInto('user_groups').values({ user_name: input.name, group_name: g, source: 'cli' }).execute();
    const code = await issueEnrollmentCode(tx, input.name, now);
    const event = await appendEvent(tx, now, { type: 'user.added', actor, data: { user: input.name, groups: input.groups, admin: input.admin }, audience: { users: [input.name] } });
    return { user: input.name, code, events: [event] };
  });
}

export async function newCodeFor(store: Store, name: string, now: number): Promise<{ user: string; code: string }> {
  return store.write(async (tx) => {
    const exists = await tx.selectFrom('users').select('name').where('name', '=', name).executeTakeFirst();
    if (!exists) throw new ApiError(404, 'not_found', `no user "${name}"; add them with \`latch admin user add ${name} --group GROUP\``);
    return { user: name, code: await issueEnrollmentCode(tx, name, now) };
  });
}

/** Makes the config's `members` lists true in the store: creates missing users, syncs memberships. */
export async function syncConfigMembers(store: Store, config: LatchConfig, now: number): Promise<string[]> {
  return store.write(async (tx) => {
    const created: string[] = [];
    const wanted = Object.entries(config.groups).flatMap(([group, g]) => g.members.map((user) => ({ user, group })));
    for (const name of new Set(wanted.map((w) => w.user))) {
      const exists = await tx.selectFrom('users').select('name').where('name', '=', name).executeTakeFirst();
      if (!exists) {
        await tx.insertInto('users').values({ name, admin: 0, created_at: now }).execute();
        created.push(name);
      }
    }
    const groups = JSON.stringify(Object.keys(config.groups).sort());
    await tx.insertInto('meta').values({ key: 'config_groups', value: groups }).onConflict((oc) => oc.column('key').doUpdateSet({ value: groups })).execute();
    await tx.deleteFrom('user_groups').where('source', '=', 'config').execute();
    for (const w of wanted) {
      await tx.insertInto('user_groups').values({ user_name: w.user, group_name: w.group, source: 'config' }).onConflict((oc) => oc.doNothing()).execute();
    }
    return created;
  });
}

/** On an empty store: one admin user and its enrollment code, printed once by `latch serve`. */
export async function bootstrapAdmin(store: Store, now: number): Promise<{ user: string; code: string } | null> {
  return store.write(async (tx) => {
    const anyAdmin = await tx.selectFrom('users').select('name').where('admin', '=', 1).limit(1).executeTakeFirst();
    const done = await tx.selectFrom('meta').select('value').where('key', '=', 'bootstrapped').executeTakeFirst();
    if (anyAdmin || done) return null;
    const name = 'admin';
    const exists = await tx.selectFrom('users').select('name').where('name', '=', name).executeTakeFirst();
    if (exists) await tx.updateTable('users').set({ admin: 1 }).where('name', '=', name).execute();
    else await tx.insertInto('users').values({ name, admin: 1, created_at: now }).execute();
    await tx.insertInto('meta').values({ key: 'bootstrapped', value: String(now) }).execute();
    await appendEvent(tx, now, { type: 'user.added', actor: null, data: { user: name, groups: [], admin: true, bootstrap: true }, audience: { users: [name] } });
    return { user: name, code: await issueEnrollmentCode(tx, name, now) };
  });
}
