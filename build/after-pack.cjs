/**
 * electron-builder afterPack hook: flips Electron's fuses on the packaged binary, before signing
 * (DESIGN.md "Electron shell": fuses flipped at packaging).
 *
 * - RunAsNode, NODE_OPTIONS and --inspect/--inspect-brk off: the binary cannot be used as a plain
 *   Node runtime or debugged into from outside.
 * - Embedded asar integrity validation and OnlyLoadAppFromAsar on: the app loads only from the
 *   (validated) app.asar.
 * - Cookie encryption on; the file:// extra privileges off (the UI is served from app://).
 *
 * A binary without the fuse sentinel is not a real Electron — the stub Electron of
 * `npm run package:check` — and is skipped with one log line. A real binary whose fuses cannot be
 * flipped, or do not read back as set, fails the build.
 */
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- electron-builder require()s its hooks: this file is CommonJS */

const { readFile } = require('node:fs/promises');
const path = require('node:path');
const { flipFuses, getCurrentFuseWire, FuseVersion, FuseV1Options } = require('@electron/fuses');

/** `dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX`, the marker Electron ≥ 12 places before its fuse wire. */
const { SENTINEL, FuseState } = require('@electron/fuses/dist/constants');

const FUSES = {
  [FuseV1Options.RunAsNode]: false,
  [FuseV1Options.EnableNodeOptionsEnvironmentVariable]: false,
  [FuseV1Options.EnableNodeCliInspectArguments]: false,
  [FuseV1Options.EnableEmbeddedAsarIntegrityValidation]: true,
  [FuseV1Options.OnlyLoadAppFromAsar]: true,
  [FuseV1Options.EnableCookieEncryption]: true,
  [FuseV1Options.GrantFileProtocolExtraPrivileges]: false,
};

/** The path @electron/fuses takes (the .app on macOS) and the file holding the fuse wire. */
function electronBinary(context) {
  const { appOutDir, electronPlatformName, packager } = context;
  const productFilename = packager.appInfo.productFilename;
  switch (electronPlatformName) {
    case 'darwin':
    case 'mas': {
      const app = path.join(appOutDir, `${productFilename}.app`);
      return { target: app, wireFile: path.join(app, 'Contents', 'Frameworks', 'Electron Framework.framework', 'Electron Framework') };
    }
    case 'win32': {
      const exe = path.join(appOutDir, `${productFilename}.exe`);
      return { target: exe, wireFile: exe };
    }
    default: {
      const exe = path.join(appOutDir, packager.executableName);
      return { target: exe, wireFile: exe };
    }
  }
}

exports.default = async function afterPack(context) {
  const { target, wireFile } = electronBinary(context);
  const binary = await readFile(wireFile);
  if (!binary.includes(SENTINEL)) {
    console.log(`  • fuses: skipped — ${path.basename(wireFile)} has no fuse sentinel, so it is not a real Electron binary (stub Electron of package:check)`);
    return;
  }
  const isMacArm = (context.electronPlatformName === 'darwin' || context.electronPlatformName === 'mas') && context.arch === 3; // Arch.arm64
  try {
    await flipFuses(target, { version: FuseVersion.V1, resetAdHocDarwinSignature: isMacArm, ...FUSES });
  } catch (err) {
    throw new Error(`fuses: flipping failed on ${wireFile}: ${err instanceof Error ? err.message : String(err)}`);
  }
  // Read the wire back: a fuse that did not take is a build failure, not a warning.
  const wire = await getCurrentFuseWire(target);
  const wrong = Object.entries(FUSES).filter(([option, on]) => wire[option] !== (on ? FuseState.ENABLE : FuseState.DISABLE));
  if (wrong.length > 0) {
    throw new Error(`fuses: not set after flipping on ${wireFile}: ${wrong.map(([option]) => FuseV1Options[option]).join(', ')}`);
  }
  console.log(`  • fuses: flipped on ${path.basename(wireFile)} (${Object.keys(FUSES).map((o) => `${FuseV1Options[o]}=${FUSES[o] ? 'on' : 'off'}`).join(', ')})`);
};
