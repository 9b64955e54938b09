// `npm start` (scripts/demo.mjs) both ways: with an Electron binary (a stand-in here, since the real
// one cannot be downloaded on these machines) it starts the demo server and the app signed in as
// alice; without one it says so in one line and runs the browser harness instead.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requireBuild } from './support/serve-process.js';

const DEMO = join(process.cwd(), 'scripts', 'demo.mjs');
let child: ChildProcess | undefined;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'latch-start-'));
  dirs.push(d);
  return d;
};

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await new Promise((r) => child!.on('exit', r));
  }
  child = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function start(args: string[], env: Record<string, string>) {
  requireBuild();
  child = spawn(process.execPath, [DEMO, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
  const waitFor = (pattern: RegExp, ms = 60_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const deadline = Date.now() + ms;
      const check = () => {
        const m = pattern.exec(out);
        if (m) return resolve(m);
        if (child!.exitCode !== null || Date.now() > deadline) return reject(new Error(`no ${pattern} in the output of npm start:\n${out}`));
        setTimeout(check, 50);
      };
      check();
    });
  return { output: () => out, exited, waitFor };
}

describe('npm start', () => {
  it('without an Electron binary: one line saying so, then the browser harness serving every demo user', async () => {
    // An empty folder where the binary would be: as on an install with ELECTRON_SKIP_BINARY_DOWNLOAD.
    const run = start(['--no-open'], { ELECTRON_OVERRIDE_DIST_PATH: tempDir(), LATCH_ELECTRON: '' });
    await run.waitFor(/alice\s+(http:\/\/127\.0\.0\.1:\d+\/index\.html#\S+)/);
    const lines = run.output().split('\n');
    expect(lines.filter((l) => /no tray app here/.test(l))).toEqual([expect.stringMatching(/^Latch: no tray app here: Electron's binary .+\. Starting the browser harness instead\.$/)]);
    for (const user of ['alice', 'bob', 'carol']) {
      const url = (await run.waitFor(new RegExp(`${user}\\s+(http://127\\.0\\.0\\.1:\\d+/index\\.html#\\S+)`)))[1]!;
      const page = await fetch(url.replace(/#.*/, ''));
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<div id="root">');
    }
    // The terminal way in that it prints works: a code made on its data folder signs bob in.
    const dataDir = (await run.waitFor(/admin --data-dir (\S+) user code bob/))[1]!;
    const server = (await run.waitFor(/login --server (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    const cli = (args: string[]) => execFileSync(process.execPath, [join(process.cwd(), 'dist', 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8', env: { ...process.env, LATCH_HOME: tempDir(), LATCH_KEYCHAIN: 'off' } });
    const { code } = JSON.parse(cli(['admin', '--data-dir', dataDir, 'user', 'code', 'bob', '--json'])) as { code: string };
    expect(cli(['login', '--server', server, '--code', code])).toMatch(/bob/);
    child!.kill('SIGINT');
    expect(await run.exited).toBe(0);
  }, 120_000);

  it('with Electron: the demo server, and the app started signed in as alice with a code only in its environment', async () => {
    const dir = tempDir();
    const record = join(dir, 'record.json');
    // The stand-in records how it was started, signs in with the handed code as the real app does,
    // and quits, which stops the demo.
    const stub = join(dir, 'electron');
    writeFileSync(
      stub,
      `#!${process.execPath}
const env = process.env;
fetch(env.LATCH_ENROLL_SERVER + '/v1/enroll', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: env.LATCH_ENROLL_CODE, device: 'stand-in' }) })
  .then(async (r) => {
    const body = await r.json();
    require('fs').writeFileSync(${JSON.stringify(record)}, JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), userData: env.LATCH_USER_DATA_DIR, server: env.LATCH_ENROLL_SERVER, code: env.LATCH_ENROLL_CODE, status: r.status, user: body.user && body.user.name }));
  })
  .finally(() => process.exit(0));
`,
    );
    chmodSync(stub, 0o755);
    const run = start([], { LATCH_ELECTRON: stub, LATCH_DATA_DIR: join(dir, 'server'), PORT: '0' });
    await run.waitFor(/the tray app is starting, signed in as alice/, 90_000);
    // Quitting the app (the stand-in exits) stops the demo server.
    expect(await run.exited).toBe(0);
    const seen = JSON.parse(readFileSync(record, 'utf8'));
    expect(seen).toMatchObject({ argv: [process.cwd()], cwd: process.cwd(), status: 200, user: 'alice' });
    expect(seen.userData).toBe(join(process.cwd(), '.latch', 'demo-app'));
    expect(seen.server).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // The code alice's app used appears nowhere in what npm start printed; bob and carol get theirs for the CLI.
    expect(run.output()).not.toContain(seen.code);
    expect(run.output()).toMatch(/bob\s+LATCH_HOME=\.latch\/bob node dist\/src\/cli\/main\.js login --server http:\/\/127\.0\.0\.1:\d+ --code \S+/);
    expect(run.output()).not.toMatch(/alice\s+LATCH_HOME/);
  }, 150_000);
});
