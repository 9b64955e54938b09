/**
 * Every view of the window, in light and dark, at the tray popover's size and in a full window
 * (issue 5, "Views"), on the real agent and server through the browser harness. Each view is
 * checked for what a person would notice at that size — its heading and main content are there,
 * nothing is cut off sideways, the page raised no error — and saved as a screenshot to
 * test-results/screenshots/ (LATCH_SCREENSHOTS_DIR to put them elsewhere) for a person to look at.
 * The request flow is also done with the keyboard alone.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POPOVER_SIZE } from '../src/desktop/popover.js';
import { serviceAvailable } from '../src/server/test-support/services.js';
import type { ActionResult, DesktopApi } from '../src/shared/desktop-api.js';
import type { RequestView } from '../src/shared/api.js';
import { chromiumMissing, launchChromium, openUserPage, pageErrors, startBrowserHarness, type BrowserHarness, type UserPageOptions } from './harness/index.js';

const run = serviceAvailable('window views (Chromium)', chromiumMissing());
const SHOTS = process.env.LATCH_SCREENSHOTS_DIR ?? join(process.cwd(), 'test-results', 'screenshots');

const CONFIG = `
groups:
  eng: { members: [alice, dave] }
  sre: { members: [bob, carol] }
resources:
  demo-pass:
    description: A signed access pass any service can verify
    connector: pass
    roles: { read: { description: Read-only } }
  billing-admin:
    description: The billing console
    connector: pass
    roles: { operator: { description: Refunds and credits }, viewer: {} }
policies:
  - { resource: demo-pass, requesters: [eng], approvers: { groups: [sre] }, maxDuration: 1h, defaultDuration: 30m, extensions: { max: 2, maxDuration: 30m } }
  - { resource: billing-admin, requesters: [eng], approvers: { groups: [sre] }, approvals: 2, maxDuration: 4h, defaultDuration: 1h }
`;

type Win = { latch: DesktopApi };
const SIZES = { popover: { width: POPOVER_SIZE.width, height: POPOVER_SIZE.height }, window: { width: 960, height: 720 } } as const;
const THEMES = ['light', 'dark'] as const;

/** The places to look at: who, where, and what must be on screen there. */
const VIEWS: { name: string; user: string; target: UserPageOptions['target']; query?: Record<string, string>; shows: RegExp[] }[] = [
  { name: 'my-access', user: 'alice', target: { view: 'home' }, shows: [/My access/, /left · ends at/, /Waiting for approval/, /Recent/, /Denied by carol/] },
  { name: 'request', user: 'alice', target: { view: 'request_access' }, query: { resource: 'billing-admin', role: 'viewer' }, shows: [/Request access/, /Longest/, /anyone in sre \(2 approvals\)/, /Reason/] },
  { name: 'request-already-active', user: 'alice', target: { view: 'request_access' }, query: { resource: 'demo-pass', role: 'read' }, shows: [/You already have this access/, /Extend it instead/] },
  { name: 'extend', user: 'alice', target: { view: 'grant', grantId: '', extend: true }, shows: [/More time/, /Ask for more time/] },
  { name: 'approvals', user: 'bob', target: { view: 'approvals' }, shows: [/Approvals/, /alice/, /asks for/, /Approve/, /Decide within/] },
  // alice approves nothing: her queue is empty.
  { name: 'approvals-empty', user: 'alice', target: { view: 'approvals' }, shows: [/Nothing to review/] },
  { name: 'settings', user: 'alice', target: { view: 'settings' }, shows: [/Secure storage/, /Account/, /Settings/] },
  { name: 'first-run', user: 'dave', target: { view: 'home' }, shows: [/Sign in to your Latch server/, /Server URL/, /Enrollment code/] },
];

describe.runIf(run)('the window, view by view', () => {
  let harness: BrowserHarness;
  let browser: Browser;
  let grantId: string;

  const valueOf = <T>(r: ActionResult<T>): T => {
    if (!r.ok) throw new Error(r.error.message);
    return r.value;
  };
  const ask = async (page: Page, body: { resource: string; role: string; duration: string; reason: string }) =>
    valueOf((await page.evaluate((b) => (globalThis as unknown as Win).latch.requestAccess(b), body)) as ActionResult<RequestView>);
  const approve = async (page: Page, id: string) => valueOf((await page.evaluate((i) => (globalThis as unknown as Win).latch.approve(i), id)) as ActionResult<RequestView>);
  const deny = async (page: Page, id: string, comment: string) =>
    valueOf((await page.evaluate(([i, c]) => (globalThis as unknown as Win).latch.deny(i, c), [id, comment] as const)) as ActionResult<RequestView>);

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    [harness, browser] = await Promise.all([startBrowserHarness({ config: CONFIG, enrolled: ['alice', 'bob', 'carol'] }), launchChromium()]);
    // Some state to look at: an active grant, a pending request, a denied one, and one for bob to review.
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((u) => openUserPage(browser, harness, u)));
    const active = await ask(alice!, { resource: 'demo-pass', role: 'read', duration: '45m', reason: 'INC-2041 verify pass rotation' });
    await approve(bob!, active.id);
    const denied = await ask(alice!, { resource: 'billing-admin', role: 'operator', duration: '30m', reason: 'Refund for ticket SUP-88' });
    await deny(carol!, denied.id, 'Ask billing to refund it, please');
    await ask(alice!, { resource: 'billing-admin', role: 'viewer', duration: '2h', reason: 'Quarterly audit sample, INC-2050' });
    // The longest reason there is, for the approvals card at the popover's size.
    const words = 'INC-2060 reconcile the ledger export against the bank statement for the failed batch; ';
    await ask(alice!, { resource: 'billing-admin', role: 'operator', duration: '30m', reason: words.repeat(Math.ceil(1024 / words.length)).slice(0, 1024).trim() });
    const s = await harness.waitFor('alice', 'the grant active', (x) => x.grants.some((g) => g.state === 'active'));
    grantId = s.grants.find((g) => g.state === 'active')!.id;
    await harness.waitFor('carol', 'her queue', (x) => x.reviewQueue.some((r) => r.state === 'pending'));
    await Promise.all([alice, bob, carol].map((p) => p!.context().close()));
  });

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  for (const v of VIEWS) {
    it(`${v.name}: at the popover's and the window's size, light and dark`, async () => {
      for (const [size, viewport] of Object.entries(SIZES)) {
        for (const theme of THEMES) {
          const where = `${v.name} at the ${size}'s size (${viewport.width}×${viewport.height}), ${theme}`;
          const target = v.target?.view === 'grant' ? { view: 'grant' as const, grantId, extend: true } : v.target;
          const page = await openUserPage(browser, harness, v.user, { target, query: v.query, colorScheme: theme, viewport });
          try {
            for (const text of v.shows) await page.getByText(text).first().waitFor({ timeout: 10_000 });
            // Light or dark as the OS says: the page's background follows.
            const bg = await page.evaluate(() => (globalThis as any).getComputedStyle((globalThis as any).document.body).backgroundColor as string);
            const [r, g, b] = bg.match(/\d+/g)!.map(Number);
            expect(theme === 'dark' ? r! + g! + b! < 200 : r! + g! + b! > 600, `${where}: background ${bg}`).toBe(true);
            // Readable at this size: nothing runs off the side (no sideways scrolling).
            const overflow = await page.evaluate(() => {
              const doc = (globalThis as any).document;
              return doc.documentElement.scrollWidth - doc.documentElement.clientWidth;
            });
            expect(overflow, `${where}: scrolls sideways by ${overflow}px`).toBeLessThanOrEqual(0);
            // A long reason scrolls in its box: the card's buttons stay near (approvals at the popover's size).
            for (const box of await page.locator('.reason').all()) expect((await box.boundingBox())!.height, `${where}: a reason box`).toBeLessThan(200);
            // The connection line is always on screen.
            expect(await page.getByRole('contentinfo', { name: 'Connection' }).isVisible(), where).toBe(true);
            await page.screenshot({ path: join(SHOTS, `${v.name}-${size}-${theme}.png`) });
            expect(pageErrors(page), where).toEqual([]);
          } finally {
            await page.context().close();
          }
        }
      }
    }, 90_000);
  }

  it('a request can be made with the keyboard alone', async () => {
    const page = await openUserPage(browser, harness, 'alice', { target: { view: 'request_access' }, query: { resource: 'billing-admin', role: 'viewer' } });
    try {
      // Cancel the pending viewer request first so the form accepts a new one (through the window).
      await page.getByRole('link', { name: 'See the request' }).focus();
      await page.keyboard.press('Enter');
      // The link leads to that request's card.
      const cancel = page.getByRole('article', { name: 'Request for billing-admin viewer' }).getByRole('button', { name: 'Cancel request' });
      await cancel.focus();
      await page.keyboard.press('Enter');
      await page.getByText('Cancelled').first().waitFor();

      await page.getByRole('link', { name: 'Request' }).focus();
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Request access' }).waitFor();
      const resource = page.getByLabel('Resource');
      await resource.focus();
      await page.keyboard.press('End'); // the last resource in the list
      expect(await resource.inputValue()).not.toBe('');
      // Tab through to the reason, type it, then Tab to the button and press Enter.
      const reason = page.getByLabel(/^Reason/);
      for (let i = 0; i < 20 && !(await reason.evaluate((el) => el === (globalThis as any).document.activeElement)); i++) await page.keyboard.press('Tab');
      await page.keyboard.type('INC-3001 keyboard only request');
      const submit = page.getByRole('button', { name: 'Request access' });
      for (let i = 0; i < 5 && !(await submit.evaluate((el) => el === (globalThis as any).document.activeElement)); i++) await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'My access' }).waitFor();
      await page.getByText(/INC-3001 keyboard only request/).waitFor();
      expect(pageErrors(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  });
});
