/**
 * The browser harness itself (issue 5, "Browser harness"): Debian's Chromium loads the renderer
 * from the harness, and `window.latch` in the page reaches the real agent of that user, which
 * talks to the real approval server. The end-to-end scenarios of the UI are built on this.
 */
import { request as httpRequest } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { contentSecurityPolicy } from '../src/desktop/csp.js';
import { accounts, napiKeyringBackend } from '../src/desktop/keychain.js';
import { serviceAvailable } from '../src/server/test-support/services.js';
import type { ActionResult, DesktopApi, DesktopSnapshot } from '../src/shared/desktop-api.js';
import type { RequestView } from '../src/shared/api.js';
import { BRIDGE_PROTOCOL, BRIDGE_SCRIPT_PATH, BRIDGE_SOCKET_PATH, CLOSE_MALFORMED, TOKEN_PARAM, TOKEN_PROTOCOL_PREFIX } from './harness/bridge-protocol.js';
import { chromiumMissing, launchChromium, openUserPage, pageErrors, setPageVisibility, startBrowserHarness, type BrowserHarness } from './harness/index.js';

const haveChromium = serviceAvailable('browser harness (Chromium)', chromiumMissing());

/** Quick reconnection, so a restart test does not wait out the app's backoff. */
const STREAM = { backoff: { firstMs: 100, maxMs: 500 } };
const REASON = 'INC-1234 check the replica';

/** The page's global object, for code run in the page (this Node file has no DOM types): `window.latch`. */
type Win = { latch: DesktopApi };
/** A call made with arguments the contract does not allow (the point of the test). */
type Untyped = (...args: unknown[]) => Promise<unknown>;

const snapshotOf = (page: Page) => page.evaluate(() => (globalThis as unknown as Win).latch.getSnapshot()) as Promise<DesktopSnapshot>;

/** The harness token, as a page gets it (from the address's fragment). */
function tokenOf(harness: BrowserHarness): string {
  const url = new URL(harness.url('alice'));
  return new URLSearchParams(url.hash.slice(url.hash.indexOf('?') + 1)).get(TOKEN_PARAM)!;
}

/** Opens a bridge socket from Node: the HTTP status of a refusal, or the first message when accepted. */
function tryBridgeSocket(harness: BrowserHarness, opts: { token?: string; origin?: string | null; user?: string }): Promise<{ status: number } | { first: any }> {
  const headers: Record<string, string> = {};
  const origin = opts.origin === undefined ? harness.origin : opts.origin;
  if (origin !== null) headers.origin = origin;
  const ws = new WebSocket(`${harness.origin.replace('http:', 'ws:')}${BRIDGE_SOCKET_PATH}?user=${opts.user ?? 'alice'}`, [BRIDGE_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${opts.token ?? tokenOf(harness)}`], { headers });
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.on('message', (data) => {
      resolve({ first: JSON.parse(data.toString()) });
      ws.close();
    });
    ws.on('error', (err) => reject(err));
  });
}

/** GET with the path sent exactly as written (no `..` folding, as a hostile client might). */
function rawGet(origin: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function requestCount(harness: BrowserHarness): Promise<number> {
  const row = await harness.server().store.db.selectFrom('requests').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

describe.runIf(haveChromium)('the browser harness', () => {
  let harness: BrowserHarness;
  let browser: Browser;
  let alice: Page;
  let bob: Page;

  beforeAll(async () => {
    [harness, browser] = await Promise.all([startBrowserHarness({ stream: STREAM }), launchChromium()]);
    [alice, bob] = await Promise.all([openUserPage(browser, harness, 'alice'), openUserPage(browser, harness, 'bob')]);
  });

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  it('serves renderer/dist under the window CSP with only its own socket allowed, and nothing else', async () => {
    const index = await rawGet(harness.origin, '/index.html');
    expect(index.status).toBe(200);
    expect(index.headers['content-security-policy']).toBe(contentSecurityPolicy(harness.origin.replace('http:', 'ws:')));
    expect(index.headers['content-security-policy']).toMatch(/connect-src ws:\/\/127\.0\.0\.1:\d+;/);
    expect(index.body).toContain(`<script src="${BRIDGE_SCRIPT_PATH}"></script>`);
    expect((await rawGet(harness.origin, BRIDGE_SCRIPT_PATH)).status).toBe(200);
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/e2e/harness/bridge-client.ts', '/..%2f..%2fetc/passwd']) {
      expect((await rawGet(harness.origin, path)).status, path).toBe(404);
    }
    // Another host name for the same address (DNS rebinding) gets nothing.
    expect((await rawGet(harness.origin, '/index.html', { host: `evil.example:${new URL(harness.origin).port}` })).status).toBe(421);
  });

  it("a page opened with alice's address is alice's window, the token gone from its address", async () => {
    const snapshot = await snapshotOf(alice);
    expect(snapshot.phase).toBe('ready');
    expect(snapshot.user?.name).toBe('alice');
    expect(snapshot.connection.state).toBe('live');
    expect(alice.url()).toBe(`${harness.origin}/index.html#/home`);
    expect((await snapshotOf(bob)).user?.name).toBe('bob');
    // The window says where secrets are, and it is where the harness put them.
    expect(snapshot.keychain.status).toBe(harness.keychainMode === 'secret-service' ? 'available' : 'unavailable');
    expect(await harness.keychain('alice').has(accounts.device(snapshot.serverUrl!))).toBe(true);
    // The policy lets the page reach its socket (the placeholder page's own CSP complaints aside).
    expect(pageErrors(alice).filter((e) => /connect-src|WebSocket|bridge/i.test(e))).toEqual([]);
  });

  it("alice's request from her page reaches bob's review queue and bob's notifications", async () => {
    const result = (await alice.evaluate(
      (reason) => (globalThis as unknown as Win).latch.requestAccess({ resource: 'demo-pass', role: 'read', duration: '30m', reason }),
      REASON,
    )) as ActionResult<RequestView>;
    if (!result.ok) throw new Error(result.error.message);
    expect(result.value.state).toBe('pending');
    const id = result.value.id;

    // Through bob's own subscription, as the renderer would see it.
    const queued = await bob.evaluate(
      (id) =>
        new Promise<RequestView>((resolve) => {
          const off = (globalThis as unknown as Win).latch.onSnapshot((s) => {
            const found = s.reviewQueue.find((r) => r.id === id);
            if (found) {
              off();
              resolve(found);
            }
          });
        }),
      id,
    );
    expect(queued).toMatchObject({ id, requester: 'alice', resource: 'demo-pass', role: 'read', state: 'pending', reason: REASON });
    await harness.waitFor('bob', 'the request in his queue', (s) => s.reviewQueue.some((r) => r.id === id));
    expect(harness.notifications('bob').shown('approval_needed').map((n) => n.intent.kind === 'approval_needed' && n.intent.requestId)).toContain(id);
    expect(harness.notifications('alice').shown('approval_needed')).toEqual([]);
  });

  it("another user's address pasted into a tab makes it that user's window", async () => {
    const page = await openUserPage(browser, harness, 'carol');
    try {
      expect((await snapshotOf(page)).user?.name).toBe('carol');
      // Only the fragment differs: no load by itself, so the bridge reloads the page.
      await Promise.all([page.waitForEvent('load'), page.goto(harness.url('bob', { view: 'approvals' }))]);
      await page.waitForFunction(() => 'latch' in globalThis);
      expect((await snapshotOf(page)).user?.name).toBe('bob');
      expect(page.url()).toBe(`${harness.origin}/index.html#/approvals`);
    } finally {
      await page.context().close();
    }
  });

  it('a page with an address from another run says so, instead of "Connecting to Latch…" for ever', async () => {
    const stale = harness.url('alice').replace(/latch-token=[^&]+/, `latch-token=${'x'.repeat(tokenOf(harness).length)}`);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(stale);
      const notice = page.getByRole('alert').filter({ hasText: 'earlier run of the browser harness' });
      await notice.waitFor({ timeout: 15_000 });
      expect(await notice.textContent()).toContain('Open one of the addresses `npm run dev:browser` printed.');
    } finally {
      await context.close();
    }
  });

  it('refuses a socket with a wrong token, from another origin or for an unknown user', async () => {
    // The same socket with everything right is accepted (and gets alice's snapshot at once).
    const accepted = await tryBridgeSocket(harness, {});
    expect(accepted).toMatchObject({ first: { snapshot: { user: { name: 'alice' } } } });

    expect(await tryBridgeSocket(harness, { token: 'x'.repeat(tokenOf(harness).length) })).toEqual({ status: 401 });
    expect(await tryBridgeSocket(harness, { token: '' })).toEqual({ status: 401 });
    expect(await tryBridgeSocket(harness, { origin: 'http://evil.example' })).toEqual({ status: 403 });
    expect(await tryBridgeSocket(harness, { origin: `http://127.0.0.1:${Number(new URL(harness.origin).port) + 1}` })).toEqual({ status: 403 });
    expect(await tryBridgeSocket(harness, { origin: null })).toEqual({ status: 403 });
    expect(await tryBridgeSocket(harness, { user: 'mallory' })).toEqual({ status: 404 });
  });

  it('refuses bad arguments with invalid_arguments and changes nothing', async () => {
    const before = { server: await requestCount(harness), alice: (await snapshotOf(alice)).requests.length };
    const refusals = await alice.evaluate(async () => {
      const latch = (globalThis as unknown as Win).latch;
      const outcomes: string[] = [];
      for (const attempt of [
        () => (latch.requestAccess as Untyped)({ resource: 'demo-pass', duration: '30m', reason: 'no role given here' }),
        () => (latch.requestAccess as Untyped)({ resource: 'demo-pass', role: 'read', reason: 'a key the contract has not', publicKey: 'ssh-ed25519 AAAA' }),
        () => (latch.approve as Untyped)(42),
        () => latch.deny('req_0123456789abcdef', ''),
      ]) {
        outcomes.push(await attempt().then((r) => `resolved ${JSON.stringify(r)}`, (err: Error) => err.message));
      }
      return outcomes;
    });
    expect(refusals[0]).toMatch(/^latch:invalid_arguments: requestAccess: argument 1 \(role\)/);
    expect(refusals[1]).toMatch(/^latch:invalid_arguments: requestAccess: argument 1/);
    expect(refusals[2]).toMatch(/^latch:invalid_arguments: approve: argument 1/);
    expect(refusals[3]).toMatch(/^latch:invalid_arguments: deny: argument 2: say why you deny it/);
    expect(await requestCount(harness)).toBe(before.server);
    expect((await snapshotOf(alice)).requests.length).toBe(before.alice);
  });

  it('answers a call that is not in the contract with unknown_call, and drops a socket that sends junk', async () => {
    const ws = new WebSocket(`${harness.origin.replace('http:', 'ws:')}${BRIDGE_SOCKET_PATH}?user=alice`, [BRIDGE_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${tokenOf(harness)}`], { headers: { origin: harness.origin } });
    const replies: any[] = [];
    ws.on('message', (d) => replies.push(JSON.parse(d.toString())));
    await new Promise((resolve) => ws.on('open', resolve));
    ws.send(JSON.stringify({ id: 7, name: 'constructor', args: [] }));
    await expect.poll(() => replies.find((r) => r.id === 7)).toEqual({ id: 7, error: { code: 'unknown_call', message: 'latch:unknown_call: "constructor" is not a Latch call' } });
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.send('{"id": "not a number"}');
    expect(await closed).toBe(CLOSE_MALFORMED);
  });

  it("the agent's window visibility follows the page's", async () => {
    await expect.poll(() => harness.windowVisible('alice')).toBe(true);
    // While the window shows, the agent pushes a snapshot every second (countdowns tick).
    const ticks = (page: Page) =>
      page.evaluate(
        () =>
          new Promise<number>((resolve) => {
            let n = 0;
            const off = (globalThis as unknown as Win).latch.onSnapshot(() => n++);
            setTimeout(() => (off(), resolve(n)), 2_500);
          }),
      );
    expect(await ticks(alice)).toBeGreaterThanOrEqual(2);

    await setPageVisibility(alice, 'hidden');
    await expect.poll(() => harness.windowVisible('alice')).toBe(false);
    expect(await ticks(alice)).toBe(0);

    await setPageVisibility(alice, 'visible');
    await expect.poll(() => harness.windowVisible('alice')).toBe(true);
    // A second page of alice's that is hidden does not hide her window.
    const second = await openUserPage(browser, harness, 'alice');
    await setPageVisibility(second, 'hidden');
    await second.waitForTimeout(200);
    expect(harness.windowVisible('alice')).toBe(true);
    await second.context().close();
  });

  it('after an approval server restart, the page sees reconnecting then live, and calls work again', async () => {
    await harness.stopServer();
    await alice.waitForFunction(() => (globalThis as unknown as Win).latch.getSnapshot().then((s) => s.connection.state !== 'live'));
    const whileDown = (await alice.evaluate(() => (globalThis as unknown as Win).latch.requestAccess({ resource: 'demo-pass', role: 'read', duration: '30m', reason: 'while the server is down' }))) as ActionResult<RequestView>;
    expect(whileDown).toMatchObject({ ok: false, error: { code: 'offline' } });

    await harness.startServer();
    await alice.waitForFunction(() => (globalThis as unknown as Win).latch.getSnapshot().then((s) => s.connection.state === 'live'), undefined, { timeout: 15_000 });
    // alice's request from before the restart is still pending; cancelling it is a call like any other.
    const pending = (await snapshotOf(alice)).requests.find((r) => r.state === 'pending');
    expect(pending).toBeDefined();
    expect(await alice.evaluate((id) => (globalThis as unknown as Win).latch.cancel(id), pending!.id)).toMatchObject({ ok: true, value: { state: 'cancelled' } });
    const before = await requestCount(harness);
    const after = (await alice.evaluate((reason) => (globalThis as unknown as Win).latch.requestAccess({ resource: 'demo-pass', role: 'read', duration: '30m', reason }), REASON)) as ActionResult<RequestView>;
    expect(after).toMatchObject({ ok: true, value: { state: 'pending', requester: 'alice' } });
    // The call made while the server was down was not queued and sent later: exactly one more.
    expect(await requestCount(harness)).toBe(before + 1);
    await bob.waitForFunction((id) => (globalThis as unknown as Win).latch.getSnapshot().then((s) => s.reviewQueue.some((r) => r.id === id)), after.ok ? after.value.id : '', { timeout: 15_000 });
  });

  it('a page whose socket drops reconnects, and its calls work again', async () => {
    harness.disconnectPages('alice');
    await expect.poll(() => harness.windowVisible('alice')).toBe(false);
    await expect.poll(() => harness.windowVisible('alice'), { timeout: 10_000 }).toBe(true);
    expect((await snapshotOf(alice)).phase).toBe('ready');
    expect(pageErrors(alice).filter((e) => /connect-src|bridge/i.test(e))).toEqual([]);
  });
});

describe.runIf(haveChromium)('a page whose harness has stopped', () => {
  it('answers offline within seconds instead of hanging, and close() leaves no keychain entry behind', async () => {
    const harness = await startBrowserHarness({ users: ['alice'], stream: STREAM });
    const browser = await launchChromium();
    try {
      const page = await openUserPage(browser, harness, 'alice');
      const snapshot = await snapshotOf(page);
      const device = accounts.device(snapshot.serverUrl!);
      expect(await harness.keychain('alice').has(device)).toBe(true);
      const service = harness.keychain('alice').service;

      await harness.close();
      const started = Date.now();
      const outcome = await page.evaluate(async () => {
        const latch = (globalThis as unknown as Win).latch;
        return {
          request: await latch.requestAccess({ resource: 'demo-pass', role: 'read', duration: '30m', reason: 'nobody is listening now' }),
          snapshot: await latch.getSnapshot(),
          settings: await latch.getSettings().then(() => 'resolved', (err: Error) => err.message),
        };
      });
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(outcome.request).toMatchObject({ ok: false, error: { code: 'offline', message: expect.stringMatching(/harness does not answer/) } });
      // The last snapshot the agent sent, unchanged (the renderer marks it stale from its own state).
      expect(outcome.snapshot.user?.name).toBe('alice');
      expect(outcome.settings).toMatch(/^latch:offline: /);

      if (service !== null) {
        const os = napiKeyringBackend({ service });
        expect(await os.get(device, new AbortController().signal)).toBeNull();
        expect(await os.get('index', new AbortController().signal)).toBeNull();
      }
    } finally {
      await browser.close();
      await harness.close();
    }
  });
});
