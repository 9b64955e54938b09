// FIELD-CASES B45: nginx in front of the server, with its default response buffering and 60 s read
// timeout. The server's `X-Accel-Buffering: no` must get the stream through unbuffered: the client
// goes live (the `ready` frame is not held back) and sees an approval within a second.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventView } from '../shared/api.js';
import { systemClock } from '../shared/clock.js';
import { startHarness, type Harness, type TestClient } from '../server/test-support/harness.js';
import { freePort } from '../server/test-support/net.js';
import { serviceAvailable } from '../server/test-support/services.js';
import { LatchClient } from './client.js';
import { MemoryCredentialSource } from './credentials.js';
import { EventStream } from './events.js';

const NGINX = '/usr/sbin/nginx';
const available = serviceAvailable('sync through nginx', existsSync(NGINX) ? null : `nginx (${NGINX})`);


async function accepting(port: number, timeoutMs: number, log: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nginx did not listen on ${port} within ${timeoutMs} ms: ${log()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.runIf(available)('through nginx with default buffering (B45)', () => {
  let h: Harness;
  let alice: TestClient;
  let nginx: ChildProcess;
  let dir: string;
  let url: string;

  beforeAll(async () => {
    // The server's own heartbeat (15 s): no heartbeat comes along to push a buffer out.
    h = await startHarness();
    alice = await h.as('alice');
    dir = mkdtempSync(join(tmpdir(), 'latch-nginx-'));
    for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
    const port = await freePort();
    const upstream = new URL(h.url);
    // Stock proxying: buffering on, HTTP/1.0 upstream, proxy_read_timeout 60 s (all defaults).
    writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://${upstream.host}; }
  }
}
`);
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
    const log = () => (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '(no error log)');
    await accepting(port, 5_000, log);
    url = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    if (nginx?.pid !== undefined && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx.once('exit', resolve));
      nginx.kill('SIGTERM');
      await exited;
    }
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('goes live and sees an approval made through the API within 1 s', async () => {
    const admin = await h.as('admin');
    const code = (await admin.post('/v1/admin/users/bob/code', {})).body.code as string;
    const bob = new LatchClient({ baseUrl: url, credentials: new MemoryCredentialSource(), clock: systemClock });
    await bob.enroll(code, 'bob-behind-nginx');
    const stream = new EventStream({ client: bob, clock: systemClock });
    const events: EventView[] = [];
    stream.onEvent((e) => events.push(e));
    const live = new Promise<void>((resolve, reject) => {
      stream.onStatus((s) => s.state === 'live' && resolve());
      setTimeout(() => reject(new Error('the stream did not go live through nginx within 5 s: its `ready` frame was held back')), 5_000).unref();
    });
    stream.start();
    await live;

    const created = await alice.post('/v1/requests', { resource: 'demo-pass', role: 'read', duration: '10m', reason: 'INC-45 through nginx' });
    const start = Date.now();
    await bob.approve(created.body.id);
    const end = Date.now() + 1_000;
    while (!events.some((e) => e.type === 'request.approved' && e.requestId === created.body.id)) {
      if (Date.now() > end) throw new Error(`the approval did not come through nginx within 1 s (got: ${events.map((e) => e.type).join(', ') || 'nothing'})`);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(Date.now() - start).toBeLessThan(1_000);
    expect(stream.status.state).toBe('live');
    stream.close();
    bob.close();
  });
});
