// Packaging as DESIGN.md "Testing where Electron cannot run" has it: electron-builder against a stub
// Electron directory, then the app.asar listed and checked (scripts/package-check.mjs). Offline:
// electron-builder comes from the npm registry, the Electron binary is not needed. The fuse hook
// (build/after-pack.cjs) is also run on synthetic binaries that carry a fuse wire.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const afterPack = (require('../build/after-pack.cjs') as { default: (context: unknown) => Promise<void> }).default;
const SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';

describe('npm run package:check', () => {
  it('packages the tray app and the app.asar holds the shell, renderer and icons but no server code, tests or maps', () => {
    const run = spawnSync(process.execPath, ['scripts/package-check.mjs'], { encoding: 'utf8', timeout: 170_000 });
    const output = `${run.stdout}\n${run.stderr}`;
    expect(run.error, output).toBeUndefined();
    expect(run.status, output).toBe(0);
    expect(run.stdout).toContain('fuses: skipped'); // the stub has no fuse sentinel
    expect(run.stdout).toMatch(/package-check: OK/);
  }, 180_000);
});

describe('afterPack fuses', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'latch-fuses-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const context = () => ({ appOutDir: dir, electronPlatformName: 'linux', arch: 1, packager: { executableName: 'latch', appInfo: { productFilename: 'Latch' } } });
  /** A binary with Electron's fuse sentinel and a V1 wire of 8 fuses in Electron's defaults. */
  const binary = (wireVersion = 1) =>
    Buffer.concat([Buffer.from('\x7fELF padding '), Buffer.from(SENTINEL), Buffer.from([wireVersion, 8]), Buffer.from('10110001'), Buffer.from(' tail')]);
  const wire = () => {
    const bytes = readFileSync(join(dir, 'latch'));
    const at = bytes.indexOf(SENTINEL) + SENTINEL.length + 2;
    return bytes.subarray(at, at + 8).toString('latin1');
  };

  it('flips the fuses on a binary with a fuse wire', async () => {
    writeFileSync(join(dir, 'latch'), binary());
    await afterPack(context());
    // RunAsNode 0, CookieEncryption 1, NODE_OPTIONS 0, inspect 0, asar integrity 1, asar only 1, V8 snapshot (untouched) 0, file:// privileges 0
    expect(wire()).toBe('01001100');
  });

  it('skips a stub binary without the sentinel', async () => {
    writeFileSync(join(dir, 'latch'), '#!/bin/sh\nexit 1\n');
    await expect(afterPack(context())).resolves.toBeUndefined();
  });

  it('fails the build when a real binary cannot be flipped', async () => {
    writeFileSync(join(dir, 'latch'), binary(2));
    await expect(afterPack(context())).rejects.toThrow(/fuses: flipping failed/);
  });
});
