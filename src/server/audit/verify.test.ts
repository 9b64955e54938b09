import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../test-support/harness.js';
import { exportAudit, verifyAudit } from './verify.js';

let h: Harness;

beforeEach(async () => {
  h = await startHarness({ keepDataDir: false });
  const alice = await h.as('alice');
  const bob = await h.as('bob');
  const r = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '10m', reason: 'INC-77 look at the queue' });
  await bob.post(`/v1/requests/${r.body.id}/approve`, {});
  await h.settle();
});
afterEach(async () => h.close());

/** Tampering happens the way an attacker would: straight on the SQLite file, behind the server's back. */
function tamper(sql: string, ...params: unknown[]) {
  const db = new Database(join(h.dataDir, 'latch.db'));
  db.prepare(sql).run(...params);
  db.close();
}

describe('audit hash chain', () => {
  it('verifies an untouched chain and exports every entry in order', async () => {
    const result = await verifyAudit(h.server.store.db);
    expect(result.ok).toBe(true);
    const ids: number[] = [];
    for await (const e of exportAudit(h.server.store.db)) ids.push(e.id);
    expect(ids.length).toBeGreaterThan(4);
    expect(ids).toEqual(ids.map((_, i) => i + 1));
  });

  it('names the entry whose content was altered', async () => {
    tamper("update events set data_json = replace(data_json, 'INC-77', 'INC-78') where type = 'request.created'");
    const row = h.server.store.db.selectFrom('events').select('id').where('type', '=', 'request.created');
    const { id } = (await row.executeTakeFirst())!;
    const result = await verifyAudit(h.server.store.db);
    expect(result).toMatchObject({ ok: false, brokenAt: Number(id) });
    expect(result.ok === false && result.problem).toMatch(/altered/);
  });

  it('names a removed entry in the middle', async () => {
    tamper('delete from events where id = 3');
    const result = await verifyAudit(h.server.store.db);
    expect(result).toMatchObject({ ok: false, brokenAt: 3 });
    expect(result.ok === false && result.problem).toMatch(/missing/);
  });

  it('notices the newest entries removed', async () => {
    const { n } = (await h.server.store.db.selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst())!;
    tamper('delete from events where id = ?', Number(n));
    const result = await verifyAudit(h.server.store.db);
    expect(result).toMatchObject({ ok: false, brokenAt: Number(n) });
    expect(result.ok === false && result.problem).toMatch(/removed/);
  });

  it('notices an entry rewritten with a recomputed hash but a broken link', async () => {
    tamper("update events set prev_hash = '" + 'f'.repeat(64) + "' where id = 2");
    const result = await verifyAudit(h.server.store.db);
    expect(result).toMatchObject({ ok: false, brokenAt: 2 });
  });
});
