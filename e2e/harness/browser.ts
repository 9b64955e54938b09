/**
 * Debian's Chromium under playwright-core, launched one way for every browser test and benchmark
 * (never `npx playwright install`: the build machines have no internet beyond package registries).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContextOptions, type LaunchOptions, type Page } from 'playwright-core';
import type { WindowTarget } from '../../src/shared/desktop-api.js';
import type { BrowserHarness } from './harness.js';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_LAUNCH_OPTIONS: LaunchOptions = {
  executablePath: CHROMIUM_PATH,
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
};

/** null when Chromium is installed; otherwise what is missing, for `serviceAvailable(suite, missing)`. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM_PATH) ? null : `Debian's Chromium at ${CHROMIUM_PATH} (apt-get install chromium)`;
}

export function launchChromium(extra: LaunchOptions = {}): Promise<Browser> {
  return chromium.launch({ ...CHROMIUM_LAUNCH_OPTIONS, ...extra, args: [...(CHROMIUM_LAUNCH_OPTIONS.args ?? []), ...(extra.args ?? [])] });
}

export interface UserPageOptions {
  /** Where the window opens (default home). */
  target?: WindowTarget;
  query?: Record<string, string>;
  /** Light or dark, as the OS would say (default light). */
  colorScheme?: 'light' | 'dark';
  /** Default 960 × 720, the app window's size. */
  viewport?: { width: number; height: number };
  context?: Omit<BrowserContextOptions, 'colorScheme' | 'viewport'>;
}

/**
 * A page showing `user`'s window, in a browser context of its own (as each person has their own
 * machine), once `window.latch` is there. Page errors and console errors are kept in
 * `pageErrors(page)` for the test to look at. Close it with `page.context().close()`.
 */
export async function openUserPage(browser: Browser, harness: BrowserHarness, user: string, opts: UserPageOptions = {}): Promise<Page> {
  const context = await browser.newContext({ ...opts.context, colorScheme: opts.colorScheme ?? 'light', viewport: opts.viewport ?? { width: 960, height: 720 } });
  const page = await context.newPage();
  const errors: string[] = [];
  ERRORS.set(page, errors);
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  await page.goto(harness.url(user, opts.target, opts.query));
  await page.waitForFunction(() => 'latch' in globalThis);
  return page;
}

const ERRORS = new WeakMap<Page, string[]>();

/** Uncaught errors and console errors of a page opened by `openUserPage`, in order. */
export function pageErrors(page: Page): readonly string[] {
  return ERRORS.get(page) ?? [];
}

/**
 * Makes the page report itself hidden or visible, as when its window is minimised or shown.
 * Headless Chromium keeps every page visible (minimising a window or switching tabs does not
 * change `document.visibilityState` there), so the property is overridden and the event fired:
 * the bridge, the harness and the agent then do what they do for a real change.
 */
export async function setPageVisibility(page: Page, state: 'visible' | 'hidden'): Promise<void> {
  await page.evaluate((state) => {
    const doc = (globalThis as unknown as { document: { dispatchEvent(e: unknown): boolean } }).document;
    Object.defineProperty(doc, 'visibilityState', { configurable: true, get: () => state });
    Object.defineProperty(doc, 'hidden', { configurable: true, get: () => state === 'hidden' });
    doc.dispatchEvent(new Event('visibilitychange'));
  }, state);
}
