/**
 * `latch audit verify`: walks the chain and names the first entry that was altered, removed or
 * inserted. The head (last id and hash) is kept in `meta`, so removing the newest rows is caught too.
 */
import type { Db } from '../store/open.js';
import { GENESIS_HASH, hashRow, toStored, type StoredEvent } from '../events/log.js';

export type VerifyResult =
  | { ok: true; entries: number; head: string }
  | { ok: false; entries: number; brokenAt: number; problem: string };

const PAGE = 1000;

export async function verifyAudit(db: Db): Promise<VerifyResult> {
  let prevHash = GENESIS_HASH;
  let expectedId = 1;
  let count = 0;
  for (;;) {
    const rows = await db.selectFrom('events').selectAll().where('id', '>=', expectedId).orderBy('id').limit(PAGE).execute();
    for (const row of rows) {
      const id = Number(row.id);
      if (id !== expectedId) return { ok: false, entries: count, brokenAt: expectedId, problem: `entry ${expectedId} is missing (the next stored entry is ${id})` };
      if (row.prev_hash !== prevHash) return { ok: false, entries: count, brokenAt: id, problem: `entry ${id} does not follow entry ${id - 1} (its previous hash differs)` };
      if (hashRow(row) !== row.hash) return { ok: false, entries: count, brokenAt: id, problem: `entry ${id} was altered (its content no longer matches its hash)` };
      prevHash = row.hash;
      expectedId = id + 1;
      count++;
    }
    if (rows.length < PAGE) break;
  }
  const head = await db.selectFrom('meta').select('value').where('key', '=', 'audit_head').executeTakeFirst();
  const expectedHead = count === 0 ? undefined : `${count}:${prevHash}`;
  if (head?.value !== expectedHead) {
    const headId = head ? Number(head.value.split(':')[0]) : 0;
    if (headId > count) return { ok: false, entries: count, brokenAt: count + 1, problem: `entries ${count + 1}..${headId} were removed (the chain head says ${headId} entries)` };
    return { ok: false, entries: count, brokenAt: count, problem: 'the chain head does not match the last entry' };
  }
  return { ok: true, entries: count, head: prevHash };
}

export async function* exportAudit(db: Db): AsyncGenerator<StoredEvent> {
  let after = 0;
  for (;;) {
    const rows = await db.selectFrom('events').selectAll().where('id', '>', after).orderBy('id').limit(PAGE).execute();
    for (const row of rows) yield toStored(row);
    if (rows.length < PAGE) return;
    after = Number(rows[rows.length - 1]!.id);
  }
}
