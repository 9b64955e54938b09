/** The browser harness for end-to-end tests and benchmarks: start it, open a page per user. */
export { repoRoot, startBrowserHarness, windowHash, type BrowserHarness, type BrowserHarnessOptions, type HarnessUser } from './harness.js';
export { CHROMIUM_LAUNCH_OPTIONS, CHROMIUM_PATH, chromiumMissing, launchChromium, openUserPage, pageErrors, setPageVisibility, type UserPageOptions } from './browser.js';
export type { HarnessKeychain, KeychainMode } from './keychain.js';
