// `latch audit verify|export` as an operator runs them on the server host.
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, type Harness } from '../src/server/test-support/harness.js';
import { LATCH_BIN, requireBuild } from './support/serve-process.js';

const run = promisify(execFile);
let h: Harness;

beforeAll(async () => {
  requireBuild();
  h = await startHarness();
  const alice = await h.as('alice');
  await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '10m', reason: 'INC-40 audit me please' });
  await h.server.close();
});
afterAll(async () => h.close());

const latch = (...args: string[]) => run(process.execPath, [LATCH_BIN, ...args], { encoding: 'utf8' }).then(
  (r) => ({ code: 0, ...r }),
  (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
);

it('exports every entry as JSON lines and verifies the chain', async () => {
  const exported = await latch('audit', 'export', '--format', 'jsonl', '--data-dir', h.dataDir);
  expect(exported.code).toBe(0);
  const lines = exported.stdout.trim().split('\n').map((l) => JSON.parse(l));
  expect(lines.map((l) => l.id)).toEqual(lines.map((_, i) => i + 1));
  expect(lines.some((l) => l.type === 'request.created' && l.data.reason === 'INC-40 audit me please')).toBe(true);
  const verified = await latch('audit', 'verify', '--data-dir', h.dataDir);
  expect(verified.code).toBe(0);
  expect(verified.stdout).toMatch(new RegExp(`intact: ${lines.length} entries`));
});

it('exits non-zero naming the first altered entry', async () => {
  const db = new Database(join(h.dataDir, 'latch.db'));
  const row = db.prepare("select id from events where type = 'request.created'").get() as { id: number };
  db.prepare("update events set data_json = replace(data_json, 'INC-40', 'INC-41') where id = ?").run(row.id);
  db.close();
  const verified = await latch('audit', 'verify', '--data-dir', h.dataDir);
  expect(verified.code).toBe(1);
  expect(verified.stderr.trim().split('\n')).toHaveLength(1);
  expect(verified.stderr).toMatch(new RegExp(`broken at entry ${row.id}: entry ${row.id} was altered`));
});

it('says what to do when the data dir has no store', async () => {
  const r = await latch('audit', 'verify', '--data-dir', join(h.dataDir, 'nope'));
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/no Latch store in .*nope/);
});
