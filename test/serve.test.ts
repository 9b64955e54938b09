// `latch serve` as an operator runs it: bootstrap code, SIGHUP reload, graceful SIGTERM.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startServe, type ServeProcess } from './support/serve-process.js';
import { execFileSync } from 'node:child_process';
import { LATCH_BIN } from './support/serve-process.js';

let dir: string;
let proc: ServeProcess | undefined;
const demo = readFileSync('examples/demo.yaml', 'utf8');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'latch-serve-'));
  writeFileSync(join(dir, 'latch.yaml'), demo);
});
afterEach(async () => {
  if (proc && proc.child.exitCode === null) {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

const serveArgs = () => ['--data-dir', join(dir, 'data'), '--config', join(dir, 'latch.yaml')];

async function api(url: string, method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(url + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function login(url: string, user: string): Promise<string> {
  const out = execFileSync(process.execPath, [LATCH_BIN, 'admin', '--data-dir', join(dir, 'data'), 'user', 'code', user, '--json'], { encoding: 'utf8' });
  const { code } = JSON.parse(out) as { code: string };
  return (await api(url, 'POST', '/v1/enroll', undefined, { code })).body.accessToken as string;
}

describe('latch serve', () => {
  it('prints one bootstrap admin code on the first start of an empty store, and none after', async () => {
    proc = await startServe(serveArgs());
    const code = await proc.waitFor(/--code ([A-Z0-9-]{17})/);
    const r = await api(proc.url, 'POST', '/v1/enroll', undefined, { code, device: 'laptop' });
    expect(r.status).toBe(200);
    expect(r.body.user).toMatchObject({ name: 'admin', admin: true });
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);

    proc = await startServe(serveArgs());
    await proc.waitFor(/latch server listening/);
    expect(proc.output()).not.toMatch(/Bootstrap admin/);
  });

  it('reloads the configuration on SIGHUP; a pending request keeps the policy it was made under', async () => {
    proc = await startServe(serveArgs());
    const alice = await login(proc.url, 'alice');
    const bob = await login(proc.url, 'bob');
    const before = await api(proc.url, 'POST', '/v1/requests', alice, { resource: 'demo-pass', role: 'read', duration: '50m', reason: 'INC-1 before the reload' });
    expect(before.status).toBe(201);

    writeFileSync(join(dir, 'latch.yaml'), demo.replace(/maxDuration: 1h/, 'maxDuration: 40m'));
    proc.child.kill('SIGHUP');
    await proc.waitFor(/configuration reloaded/);

    const after = await api(proc.url, 'POST', '/v1/requests', bob, { resource: 'demo-pass', role: 'read', duration: '50m', reason: 'INC-2 after the reload' });
    expect(after.status).toBe(422);
    expect(after.body.error).toMatchObject({ code: 'duration_exceeds_max', max: '40m' });
    const approved = await api(proc.url, 'POST', `/v1/requests/${before.body.id}/approve`, bob, {});
    expect(approved.body.state).toBe('approved');
    expect(approved.body.durationMs).toBe(50 * 60_000);

    writeFileSync(join(dir, 'latch.yaml'), 'policies:\n  - resource: nope\n    maxDuration: 6x\n');
    proc.child.kill('SIGHUP');
    const logged = await proc.waitFor(/(.*configuration NOT reloaded.*)/);
    expect(logged).toMatch(/latch\.yaml:\d+/);
    const still = await api(proc.url, 'POST', '/v1/requests', bob, { resource: 'demo-pass', role: 'read', duration: '10m', reason: 'INC-3 after a bad reload' });
    expect(still.status).toBe(201);
  });

  it('finishes an in-flight request on SIGTERM, then exits 0 with the audit chain intact', async () => {
    proc = await startServe(serveArgs());
    const alice = await login(proc.url, 'alice');
    const { port } = new URL(proc.url);
    const body = JSON.stringify({ resource: 'demo-pass', role: 'read', duration: '10m', reason: 'INC-4 in flight during shutdown' });
    // Send the headers and half the body, signal the server, then send the rest.
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/requests', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      req.write(body.slice(0, 20));
      setTimeout(() => {
        proc!.child.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(20)), 300);
      }, 200);
    });
    const r = await answer;
    expect(r.status).toBe(201);
    expect(JSON.parse(r.body).state).toBe('pending');
    expect(await proc.exited).toBe(0);
    const verify = execFileSync(process.execPath, [LATCH_BIN, 'audit', 'verify', '--data-dir', join(dir, 'data')], { encoding: 'utf8' });
    expect(verify).toMatch(/audit chain intact/);
  });
});
