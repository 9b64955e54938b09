// The app's identity in code equals the installer's (FIELD-CASES B33: a Windows toast shows only
// when the app's AUMID matches its Start-menu shortcut), and the Linux packages carry the metadata
// electron-builder's deb target refuses to build without.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { APP_ID, LINUX_EXECUTABLE, PRODUCT_NAME } from './app-identity.js';

const builder = parse(readFileSync(new URL('../../electron-builder.yml', import.meta.url), 'utf8')) as Record<string, unknown> & {
  linux?: { maintainer?: string; executableName?: string };
  nsis?: Record<string, unknown>;
};
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as Record<string, unknown> & {
  author?: { name?: string; email?: string } | string;
};

describe('the app identity (B33)', () => {
  it('is the installer shortcut’s: appId is the AUMID, productName the name shown', () => {
    expect(builder.appId).toBe(APP_ID);
    expect(builder.productName).toBe(PRODUCT_NAME);
    // Electron takes app.name from package.json's productName before main sets it.
    expect(pkg.productName).toBe(PRODUCT_NAME);
    // One packaging config: a "build" key in package.json would be a second, silently ignored one.
    expect(pkg).not.toHaveProperty('build');
  });

  it('the NSIS shortcut is made by the installer (the AUMID lives on it)', () => {
    // createStartMenuShortcut defaults to true; turning it off would leave toasts with no shortcut to match.
    expect(builder.nsis?.createStartMenuShortcut ?? true).toBe(true);
  });

  it('electron/main.ts sets this AUMID on Windows and this name, before the app is ready', () => {
    const main = readFileSync(new URL('../../electron/main.ts', import.meta.url), 'utf8');
    const setId = main.indexOf('app.setAppUserModelId(APP_ID)');
    const setName = main.indexOf('app.setName(PRODUCT_NAME)');
    const ready = main.indexOf('app.whenReady()');
    expect(setId).toBeGreaterThan(-1);
    expect(setName).toBeGreaterThan(-1);
    expect(setId).toBeLessThan(ready);
    expect(setName).toBeLessThan(ready);
  });
});

describe('Linux package metadata', () => {
  it('has what the deb target requires: a maintainer with an email, and a homepage', () => {
    // app-builder-lib FpmTarget: "Please specify project homepage" / "Please specify author 'email'".
    expect(pkg.homepage).toBe('https://latch.dev');
    expect(pkg.author).toEqual({ name: 'Latch contributors', email: 'maintainers@latch.dev' });
    expect(builder.linux?.maintainer).toBe('Latch contributors <maintainers@latch.dev>');
    expect(typeof pkg.description).toBe('string');
  });

  it('names the executable (and so the autostart entry) as the packages do', () => {
    expect(builder.linux?.executableName).toBe(LINUX_EXECUTABLE);
  });
});
