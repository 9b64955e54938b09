/**
 * "Credentials at rest are wiped when the grant ends" (issue 3): not only the column. SQLite keeps
 * the old bytes of a changed row in the write-ahead log and in freed page space, so after the end
 * no file of the data dir may hold the sealed credential or the secret in it, while the server runs.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../shared/clock.js';
import { startHarness, type Harness } from './test-support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** The names of the files under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...filesContaining(path, needle));
    else if (readFileSync(path).includes(Buffer.from(needle))) found.push(name);
  }
  return found;
}

/** alice's active access pass on demo-pass: its id, the token and the sealed form the store holds. */
async function activePass(harness: Harness) {
  const alice = await harness.as('alice');
  const r = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '30m', reason: 'INC-77 check the wipe' });
  const approved = await (await harness.as('bob')).post(`/v1/requests/${r.body.id}/approve`, {});
  const id = approved.body.grantId as string;
  await harness.settle();
  const token = (await alice.get(`/v1/grants/${id}/credential`)).body.credential.token as string;
  const row = await harness.server.store.db.selectFrom('grants').select('credential_enc').where('id', '=', id).executeTakeFirstOrThrow();
  // The ciphertext part of `v1.iv.tag.body`: what would decrypt with credentials.key.
  const sealed = row.credential_enc!.split('.')[3]!;
  return { alice, id, token, sealed };
}

describe('a credential is wiped from every file when its grant ends', () => {
  it('ended by its holder: neither the sealed credential nor the token is left in latch.db, its WAL or any other file', async () => {
    h = await startHarness();
    const { alice, id, token, sealed } = await activePass(h);
    expect(token.length).toBeGreaterThan(100);
    // As SQLite's automatic checkpoint does while the grant is active: the row reaches latch.db itself.
    await h.server.store.checkpoint();
    expect(filesContaining(h.dataDir, sealed)).toEqual(['latch.db']); // what the check looks for is really there first

    expect((await alice.post(`/v1/grants/${id}/end`)).body.state).toBe('ended');
    expect(filesContaining(h.dataDir, sealed)).toEqual([]);
    expect(filesContaining(h.dataDir, token)).toEqual([]);
    expect(filesContaining(h.dataDir, token.split('.')[2]!)).toEqual([]); // not even its signature
  });

  it('expired: the same once the sweep has ended it', async () => {
    const clock = new ManualClock(Date.UTC(2026, 2, 2, 9, 0, 0));
    h = await startHarness({ clock });
    const { alice, id, token, sealed } = await activePass(h);
    expect(filesContaining(h.dataDir, sealed).length).toBeGreaterThan(0);

    clock.advance(30 * 60_000 + 1000);
    await h.settle();
    expect((await alice.get(`/v1/grants/${id}`)).body.state).toBe('ended');
    expect(filesContaining(h.dataDir, sealed)).toEqual([]);
    expect(filesContaining(h.dataDir, token)).toEqual([]);
  });
});
