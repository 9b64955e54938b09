/**
 * The data dir's modes through the real server: what Latch creates there (the store and its WAL
 * files, the keys) is the owner's only whatever the umask, and a store others can read is reported.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLatchServer } from '../server.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'latch-modes-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

/** Starts the server on `dataDir` under `umask`, lets it write (a user, an enrollment), stops it; returns its warnings. */
async function runOnce(dataDir: string, umask = 0o022): Promise<string[]> {
  const lines: string[] = [];
  const before = process.umask(umask);
  try {
    const server = await createLatchServer({ dataDir, logger: pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }) });
    await server.listen('127.0.0.1', 0);
    const code = server.bootstrap!.code;
    const r = await fetch(`http://127.0.0.1:${(server.app.server.address() as { port: number }).port}/v1/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, device: 'laptop' }) });
    expect(r.status).toBe(200);
    // Every store file present at once, as while the server runs.
    expect(readdirSync(dataDir)).toEqual(expect.arrayContaining(['latch.db', 'latch.db-wal', 'latch.db-shm']));
    for (const name of readdirSync(dataDir)) expect([name, modeOf(join(dataDir, name))]).toEqual([name, '600']);
    await server.close();
  } finally {
    process.umask(before);
  }
  return lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
}

describe('the data dir', () => {
  it.each(['022', '002', '000'])('made by Latch is 0700 and every file in it 0600 (umask %s)', async (umask) => {
    const dataDir = join(root, 'nested', 'server');
    expect(await runOnce(dataDir, parseInt(umask, 8))).toEqual([]);
    expect(modeOf(dataDir)).toBe('700');
    for (const name of readdirSync(dataDir)) expect([name, modeOf(join(dataDir, name))]).toEqual([name, '600']);
  });

  it('made by hand open to others is left as it is, with a warning that says how to close it', async () => {
    const dataDir = join(root, 'server');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    const warnings = await runOnce(dataDir);
    expect(warnings).toEqual([`others than the owner may read the store (${dataDir} 0755); it holds sealed credentials and the audit trail: chmod 700 ${dataDir} and chmod 600 the latch.db files`]);
    expect(modeOf(dataDir)).toBe('755');
  });

  it('with a store an older Latch left readable (0644) gets the warning, naming its files', async () => {
    const dataDir = join(root, 'server');
    await runOnce(dataDir);
    chmodSync(join(dataDir, 'latch.db'), 0o644);
    const lines: string[] = [];
    const server = await createLatchServer({ dataDir, logger: pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }) });
    await server.close();
    // SQLite gives the -wal and -shm files it makes the database's mode.
    const db = join(dataDir, 'latch.db');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([expect.stringContaining(`(${db} 0644, ${db}-wal 0644, ${db}-shm 0644)`)]);
  });
});
