/**
 * The product end to end, through the window a person uses (issue 5, "End to end"): Debian's
 * Chromium shows each user's renderer; every step is a click or a keystroke in it; behind it the
 * real desktop agent, the real approval server and a throwaway PostgreSQL cluster. What a person
 * would notice is what is checked: what the window shows, what the desktop notified, whether the
 * database lets the credential in, what is left in the keychain.
 */
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accounts } from '../src/desktop/keychain.js';
import { loginError, pgUnavailable, prepareTarget, startPgCluster, type PgCluster } from '../src/server/test-support/pg-cluster.js';
import { serviceAvailable, strict } from '../src/server/test-support/services.js';
import { chromiumMissing, launchChromium, openUserPage, pageErrors, startBrowserHarness, type BrowserHarness } from './harness/index.js';
import { probeSecretService } from './harness/keychain.js';

const run =
  serviceAvailable('end-to-end scenarios (Chromium)', chromiumMissing()) &&
  serviceAvailable('end-to-end scenarios (PostgreSQL)', pgUnavailable()) &&
  // "the keychain entry is gone" is about the OS keychain; without one the agents keep secrets in
  // memory and the scenarios still run, checking that instead.
  (!strict || serviceAvailable('end-to-end scenarios (Secret Service)', await probeSecretService()));

const ADMIN_PW_ENV = 'LATCH_E2E_PG_ADMIN_PW';
const REASON = 'INC-4711 check the failed invoice run';

function config(cluster: PgCluster): string {
  const pgConfig = { host: cluster.host, port: cluster.port, database: 'app', user: 'latch_admin', passwordEnv: ADMIN_PW_ENV, roles: { readonly: 'app_readonly' } };
  return `
groups:
  eng: { members: [alice] }
  sre: { members: [bob, carol] }
resources:
  pg-prod:
    description: Production PostgreSQL
    connector: postgres
    config: ${JSON.stringify(pgConfig)}
    roles: { readonly: { description: Read-only } }
  demo-pass:
    connector: pass
    roles: { read: {} }
policies:
  - { resource: pg-prod, requesters: [eng], approvers: { groups: [sre] }, maxDuration: 1h, defaultDuration: 30m, reasonRequired: true }
  - { resource: demo-pass, requesters: [eng], approvers: { groups: [sre] }, maxDuration: 1h, reasonRequired: true }
`;
}

/** Moves an open window to a place, as a tray item or a link in it would (the renderer routes on the hash). */
async function openPlace(page: Page, hash: string): Promise<void> {
  await page.evaluate((h) => ((globalThis as unknown as { location: { hash: string } }).location.hash = h), hash);
}

describe.runIf(run)('end to end in the browser, against the real agent, server and PostgreSQL', () => {
  let cluster: PgCluster;
  let su: pg.Client;
  let harness: BrowserHarness;
  let browser: Browser;
  let alice: Page;
  let bob: Page;
  let carol: Page;
  const clients: pg.Client[] = [];

  /** Logs in to the throwaway cluster with a connection URL; connection errors are collected. */
  async function login(url: string): Promise<pg.Client & { errors: Error[]; ended: Promise<void> }> {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    const ended = new Promise<void>((resolve) => c.on('end', () => resolve()));
    await c.connect();
    clients.push(c);
    return Object.assign(c, { errors, ended });
  }
  const jitSessions = async (role: string) => Number((await su.query('SELECT count(*) AS n FROM pg_stat_activity WHERE usename = $1', [role])).rows[0].n);
  const roleExists = async (role: string) => (await su.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount === 1;
  const requestRows = async () => harness.server().store.db.selectFrom('requests').select(['id', 'state', 'requester']).execute();

  /** Fills alice's Request view and submits it; resolves once she is back on My access. */
  async function requestThroughForm(page: Page, opts: { resource: string; role: string; custom?: string; reason: string }) {
    await openPlace(page, `#/request_access?resource=${opts.resource}&role=${opts.role}`);
    const form = page.getByRole('form', { name: 'Request access' });
    await form.waitFor();
    await form.getByLabel('Resource').selectOption(opts.resource);
    await form.getByLabel('Role').selectOption(opts.role);
    if (opts.custom) {
      await form.getByRole('radio', { name: 'Custom' }).check();
      await form.getByLabel('Custom duration').fill(opts.custom);
    }
    await form.getByLabel(/^Reason/).fill(opts.reason);
    await form.getByRole('button', { name: 'Request access' }).click();
    await page.getByRole('heading', { name: 'My access' }).waitFor();
  }

  beforeAll(async () => {
    cluster = await startPgCluster();
    ({ su } = await prepareTarget(cluster, {
      passwordEnv: ADMIN_PW_ENV,
      roles: ['app_readonly'],
      databases: { app: ['CREATE TABLE invoices (id int PRIMARY KEY, customer text, cents int)', `INSERT INTO invoices VALUES (1, 'acme', 12900), (2, 'globex', 4500)`, 'GRANT SELECT ON invoices TO app_readonly'] },
    }));

    [harness, browser] = await Promise.all([
      startBrowserHarness({ config: config(cluster), stream: { backoff: { firstMs: 100, maxMs: 500 } } }),
      launchChromium(),
    ]);
    [alice, bob, carol] = await Promise.all([
      openUserPage(browser, harness, 'alice'),
      openUserPage(browser, harness, 'bob', { target: { view: 'approvals' } }),
      openUserPage(browser, harness, 'carol', { target: { view: 'approvals' } }),
    ]);
    // A step that does not happen fails with its locator, well inside the test's own timeout.
    for (const page of [alice, bob, carol]) page.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await browser?.close();
    await harness?.close();
    await su?.end().catch(() => undefined);
    await cluster?.stop();
    delete process.env[ADMIN_PW_ENV];
  });

  it('1. alice asks for pg-prod for 2 min, bob approves from his window, she uses it, ends it, and it is gone everywhere', async () => {
    await requestThroughForm(alice, { resource: 'pg-prod', role: 'readonly', custom: '2m', reason: REASON });
    const submitted = Date.now();
    // Her own window points at the request and says who approves it.
    const pending = alice.getByRole('article', { name: 'Request for pg-prod readonly' });
    await pending.waitFor();
    expect(await pending.textContent()).toContain('anyone in sre');
    const requestId = (await pending.getAttribute('data-request-id'))!;

    // Within a second bob's Approvals view shows it (the agent's stream, not a refresh).
    const card = bob.locator(`li[data-request-id="${requestId}"]`);
    await card.waitFor({ timeout: 5_000 });
    const shownAfterMs = Date.now() - submitted;
    expect(shownAfterMs, `bob's window showed the request ${shownAfterMs} ms after alice's submit`).toBeLessThan(1_000);
    const text = (await card.textContent())!;
    expect(text).toContain('alice');
    expect(text).toContain('pg-prod');
    expect(text).toContain('2 min');
    expect(text).toContain(REASON);
    // bob's desktop was told, alice's was not (it is her own request).
    expect(harness.notifications('bob').shown('approval_needed').map((n) => n.intent.kind === 'approval_needed' && n.intent.requestId)).toEqual([requestId]);
    expect(harness.notifications('alice').shown('approval_needed')).toEqual([]);

    await card.getByRole('button', { name: "Approve alice's request" }).click();
    // The card updates in place for bob, and carol's open copy says who decided (B22).
    await card.getByText('Approved by you').waitFor();
    await carol.locator(`li[data-request-id="${requestId}"]`).getByText('Approved by bob').waitFor();

    // alice's My access shows the countdown and the credential's actions.
    const grantCard = alice.getByRole('article', { name: 'Access to pg-prod readonly' });
    await grantCard.getByText('Active').waitFor({ timeout: 15_000 });
    const timer = grantCard.getByRole('timer', { name: /^Time left/ });
    expect(await timer.textContent()).toMatch(/^0:0[12]:\d\d$/);
    const grantId = (await grantCard.getAttribute('data-grant-id'))!;
    const jitRole = (await harness.waitFor('alice', 'her grant active', (s) => s.grants.some((g) => g.id === grantId && g.state === 'active'))).grants.find((g) => g.id === grantId)!;
    expect(jitRole.requestId).toBe(requestId);

    // Copy the connection URL from her window, and log in with it as she would.
    await grantCard.getByRole('button', { name: 'Copy connection URL' }).click();
    await grantCard.getByText(/Copied connection URL · the clipboard clears in/).waitFor();
    const url = harness.clipboard('alice').text!;
    expect(url).toMatch(/^postgresql:\/\/jit_/);
    expect(await harness.keychain('alice').has(accounts.grant(grantId))).toBe(true);
    // The psql command she would paste into a terminal runs as it is.
    await grantCard.getByRole('button', { name: 'Copy psql command' }).click();
    await grantCard.getByText(/Copied psql command/).waitFor();
    const command = harness.clipboard('alice').text!;
    expect(command).toBe(`psql '${url}'`);
    expect(execFileSync('sh', ['-c', `${command} -tAc 'SELECT count(*) FROM invoices'`], { encoding: 'utf8', timeout: 10_000 }).trim()).toBe('2');
    const session = await login(url);
    expect((await session.query('SELECT customer FROM invoices ORDER BY id')).rows.map((r) => r.customer)).toEqual(['acme', 'globex']);
    await expect(session.query(`UPDATE invoices SET cents = 0`)).rejects.toThrow(/permission denied/);
    const user = (await session.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
    expect(await jitSessions(user)).toBe(1);

    // End now → confirm: her open session is cut off, a new login fails, the keychain entry is gone.
    await grantCard.getByRole('button', { name: 'End now' }).click();
    await alice.getByRole('group', { name: 'Confirm ending access' }).getByRole('button', { name: 'End access' }).click();
    await alice.locator(`.history-row[data-grant-id="${grantId}"]`).getByText('Ended by you').waitFor({ timeout: 15_000 });
    await session.ended;
    expect(session.errors.map((e) => e.message).join('\n')).toMatch(/terminat/i);
    expect(await loginError(url)).toMatch(/password authentication failed|does not exist/);
    expect(await jitSessions(user)).toBe(0);
    expect(await roleExists(user)).toBe(false);
    await expect.poll(() => harness.keychain('alice').has(accounts.grant(grantId))).toBe(false);
    expect(await alice.getByRole('article', { name: 'Access to pg-prod readonly' }).count()).toBe(0);
    expect(pageErrors(alice)).toEqual([]);
    expect(pageErrors(bob)).toEqual([]);
  });

  it('2. carol denies with a comment: alice sees "Denied by carol" and the comment, and her desktop was told', async () => {
    await requestThroughForm(alice, { resource: 'demo-pass', role: 'read', reason: 'INC-4712 verify the pass flow' });
    const requestId = (await alice.getByRole('article', { name: 'Request for demo-pass read' }).getAttribute('data-request-id'))!;
    const card = carol.locator(`li[data-request-id="${requestId}"]`);
    await card.getByRole('button', { name: "Deny alice's request" }).click();
    const form = carol.getByRole('form', { name: "Deny alice's request" });
    // An empty comment is refused in place, and nothing is sent.
    await form.getByRole('button', { name: 'Deny request' }).click();
    await form.getByText("Say why you deny it; alice sees your comment.").waitFor();
    expect((await requestRows()).find((r) => r.id === requestId)?.state).toBe('pending');
    await form.getByLabel('Why deny it?').fill('Use the staging pass for this');
    await form.getByRole('button', { name: 'Deny request' }).click();
    await card.getByText('Denied by you').waitFor();

    const row = alice.locator(`.history-row[data-request-id="${requestId}"]`);
    await row.getByText('Denied by carol').waitFor();
    expect(await row.textContent()).toContain('“Use the staging pass for this”');
    const decided = harness.notifications('alice').shown('decided').map((n) => n.intent).filter((i) => i.kind === 'decided' && i.requestId === requestId);
    expect(decided).toEqual([expect.objectContaining({ outcome: 'denied', by: 'carol', comment: 'Use the staging pass for this' })]);
    // bob's copy of the card no longer offers Approve (B22), and his notification was withdrawn.
    const bobsCard = bob.locator(`li[data-request-id="${requestId}"]`);
    await bobsCard.getByText('Denied by carol').waitFor();
    expect(await bobsCard.getByRole('button', { name: "Approve alice's request" }).count()).toBe(0);
    const asked = harness.notifications('bob').shown('approval_needed').find((n) => n.intent.kind === 'approval_needed' && n.intent.requestId === requestId);
    expect(asked).toBeDefined();
    await expect.poll(() => harness.notifications('bob').withdrawn(asked!.intent.key)).toBe(true);
  });

  it('3. the server restarts while alice\'s window is open: reconnecting, then live; nothing lost or doubled', async () => {
    // A request waiting across the restart.
    await requestThroughForm(alice, { resource: 'pg-prod', role: 'readonly', reason: 'INC-4713 across a restart' });
    const waiting = alice.getByRole('article', { name: 'Request for pg-prod readonly' });
    const requestId = (await waiting.getAttribute('data-request-id'))!;
    await bob.locator(`li[data-request-id="${requestId}"]`).waitFor();
    const before = await requestRows();

    const status = alice.getByRole('contentinfo', { name: 'Connection' }).locator('[data-connection]');
    expect(await status.textContent()).toBe('Live');
    await harness.stopServer();
    await alice.locator('[data-connection="reconnecting"], [data-connection="offline"]').waitFor({ timeout: 15_000 });
    // What it says, then why (for screen readers and the tooltip).
    expect(await status.textContent()).toMatch(/^(Reconnecting…|Offline since [^:]+): the server/);
    // The last known state stays on screen, marked as of when.
    await alice.getByText(/^Showing data as of /).waitFor();
    await waiting.waitFor();

    // An action while the server is down says so and is not queued to run later.
    await openPlace(alice, '#/request_access?resource=demo-pass&role=read');
    const form = alice.getByRole('form', { name: 'Request access' });
    await form.getByLabel(/^Reason/).fill('INC-4714 while the server is down');
    await form.getByRole('button', { name: 'Request access' }).click();
    const error = form.getByRole('alert');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/server/i);

    await harness.startServer();
    await alice.locator('[data-connection="live"]').waitFor({ timeout: 20_000 });
    expect(await alice.getByText(/^Showing data as of /).count()).toBe(0);
    // Give anything that might have been queued the time to arrive: nothing does.
    await alice.waitForTimeout(1_500);
    expect(await requestRows()).toEqual(before);

    // The request from before is there once, in her window and in bob's queue.
    await alice.getByRole('link', { name: 'My access' }).click();
    expect(await alice.locator(`article[data-request-id="${requestId}"]`).count()).toBe(1);
    expect(await bob.locator(`li[data-request-id="${requestId}"]`).count()).toBe(1);
    // The same click again, now live: exactly one more request.
    await openPlace(alice, '#/request_access?resource=demo-pass&role=read');
    await form.getByLabel(/^Reason/).fill('INC-4714 now that it is back');
    await form.getByRole('button', { name: 'Request access' }).click();
    await alice.getByRole('heading', { name: 'My access' }).waitFor();
    const after = await requestRows();
    expect(after.length).toBe(before.length + 1);
    const created = after.find((r) => !before.some((b) => b.id === r.id))!;
    await bob.locator(`li[data-request-id="${created.id}"]`).waitFor();
    expect(await bob.locator(`li[data-request-id="${created.id}"]`).count()).toBe(1);
    expect(harness.notifications('bob').shown('approval_needed').filter((n) => n.intent.kind === 'approval_needed' && n.intent.requestId === created.id)).toHaveLength(1);
    expect(pageErrors(alice).filter((e) => !/Failed to load resource|WebSocket/.test(e))).toEqual([]);
  });
});
