#!/usr/bin/env node
/**
 * Packages the tray app with electron-builder against a stub Electron and checks the app.asar
 * (DESIGN.md "Testing where Electron cannot run"): the Electron binary cannot be downloaded here,
 * so a stub directory stands in for it — a fake `electron` executable with the files
 * electron-builder expects next to it. Runs offline: `--dir --linux` (no AppImage/deb tooling),
 * no native rebuild, no Electron download.
 *
 * The deb target cannot be built here (electron-builder downloads fpm), but its metadata check
 * runs: electron-builder's own FpmTarget computes the Maintainer, Vendor and homepage it would
 * write, and fails as a real deb build would when one is missing.
 *
 * Checks app.asar: main, preload, renderer and tray icons present; package.json `main` points at
 * the compiled main; every package the compiled shell imports is bundled; no server code, no
 * server-only packages, no tests, no TypeScript sources, no source maps.
 *
 * Server-only packages and everything only they depend on (from package-lock.json) are excluded
 * by the generated block of `files` patterns in electron-builder.yml; `--write-excludes` rewrites
 * that block after a dependency change (the check fails and says so when it is out of date).
 *
 * Usage: node scripts/package-check.mjs [--keep]      (--keep leaves the output directory)
 *        node scripts/package-check.mjs --write-excludes
 * Exit code 0 when every check passes; the failures are listed otherwise.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const keep = process.argv.includes('--keep');
const BUILDER_YML = join(root, 'electron-builder.yml');
const BEGIN = '  # BEGIN server-only packages (generated: node scripts/package-check.mjs --write-excludes)';
const END = '  # END server-only packages';

/** Server-only packages: none may be in the app (electron-builder.yml `files` excludes them). */
const SERVER_ONLY = ['better-sqlite3', 'fastify', 'pg', 'kysely', 'pino', 'prom-client', 'commander', 'yaml'];
const TRAY_STATES = ['idle', 'pending', 'active', 'attention'];

/**
 * From package-lock.json: the production packages the app needs (closure of the dependencies that
 * are not server-only) and the names to exclude (reachable only from server-only packages; a name
 * that the app also needs at some path cannot be excluded by name and is left in).
 */
function dependencySets() {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages;
  const resolve = (from, name) => {
    for (let base = from; ; ) {
      const p = `${base ? `${base}/` : ''}node_modules/${name}`;
      if (lock[p]) return p;
      if (!base) return null;
      const i = base.lastIndexOf('/node_modules/');
      base = i < 0 ? '' : base.slice(0, i);
    }
  };
  const closure = (names) => {
    const seen = new Set();
    const stack = names.map((n) => resolve('', n)).filter(Boolean);
    while (stack.length > 0) {
      const p = stack.pop();
      if (seen.has(p)) continue;
      seen.add(p);
      for (const d of Object.keys({ ...lock[p].dependencies, ...lock[p].optionalDependencies })) {
        const r = resolve(p, d);
        if (r) stack.push(r);
      }
    }
    return seen;
  };
  const nameOf = (p) => p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length);
  const prod = Object.keys(lock[''].dependencies ?? {});
  const app = closure(prod.filter((n) => !SERVER_ONLY.includes(n)));
  const appNames = new Set([...app].map(nameOf));
  const serverNames = new Set([...closure(SERVER_ONLY)].filter((p) => !app.has(p)).map(nameOf));
  const exclude = [...serverNames].filter((n) => !appNames.has(n)).sort();
  // Optional platform packages (e.g. @napi-rs/keyring-<platform>) are required only when installed.
  const appInstalled = [...appNames].filter((n) => existsSync(join(root, 'node_modules', n, 'package.json'))).sort();
  return { exclude, appInstalled };
}

function excludeBlock(exclude) {
  return [BEGIN, ...exclude.map((n) => `  - "!**/node_modules/${n}/**"`), END].join('\n');
}

function currentBlock() {
  const yml = readFileSync(BUILDER_YML, 'utf8');
  const a = yml.indexOf(BEGIN);
  const b = yml.indexOf(END);
  if (a < 0 || b < a) throw new Error(`electron-builder.yml: no "${BEGIN.trim()}" … "${END.trim()}" block`);
  return { yml, a, b: b + END.length };
}

if (process.argv.includes('--write-excludes')) {
  const { exclude } = dependencySets();
  const { yml, a, b } = currentBlock();
  writeFileSync(BUILDER_YML, yml.slice(0, a) + excludeBlock(exclude) + yml.slice(b));
  console.log(`package-check: wrote ${exclude.length} server-only exclusions to electron-builder.yml`);
  process.exit(0);
}

process.env.ELECTRON_SKIP_BINARY_DOWNLOAD = '1';
process.env.ELECTRON_BUILDER_OFFLINE = 'true';
process.env.CSC_IDENTITY_AUTO_DISCOVERY = 'false';

const step = (msg) => console.log(`package-check: ${msg}`);

// 0. The renderer build (renderer/dist) that goes into the asar: built here so the check never
// packages a stale or missing window.
step('building the renderer → renderer/dist');
execFileSync(process.execPath, [join(root, 'scripts', 'build-renderer.mjs')], { cwd: root, stdio: 'inherit' });

// 1. Compile electron/ (and the src/ files it imports) to dist/app.
step('compiling tsconfig.electron.json → dist/app');
rmSync(join(root, 'dist', 'app'), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.electron.json')], { cwd: root, stdio: 'inherit' });

// 2. The stub Electron: what electron-builder copies for Linux (executable `electron`, resources/,
// locales/, licenses, `version`). The executable is a script with no fuse sentinel, so the
// afterPack hook skips flipping fuses on it.
const work = mkdtempSync(join(tmpdir(), 'latch-package-'));
const electronVersion = JSON.parse(readFileSync(require.resolve('electron/package.json'), 'utf8')).version;
const stub = join(work, 'electron-stub');
mkdirSync(join(stub, 'resources'), { recursive: true });
mkdirSync(join(stub, 'locales'), { recursive: true });
writeFileSync(join(stub, 'electron'), '#!/bin/sh\necho "stub Electron (package-check): not runnable" >&2\nexit 1\n');
chmodSync(join(stub, 'electron'), 0o755);
writeFileSync(join(stub, 'version'), electronVersion);
writeFileSync(join(stub, 'LICENSE'), 'Stub Electron for package-check.\n');
writeFileSync(join(stub, 'LICENSES.chromium.html'), '<!doctype html><title>stub</title>\n');
writeFileSync(join(stub, 'locales', 'en-US.pak'), '');
const output = join(work, 'release');

const failures = [];
const deps = dependencySets();
{
  const { yml, a, b } = currentBlock();
  if (yml.slice(a, b) !== excludeBlock(deps.exclude)) {
    failures.push('electron-builder.yml: the server-only exclusions are out of date with package-lock.json (run: node scripts/package-check.mjs --write-excludes)');
  }
}
try {
  // 3. electron-builder with electron-builder.yml, overridden for the stub.
  step(`electron-builder --dir --linux against a stub Electron ${electronVersion} (${stub})`);
  const { build, Platform } = (await import('electron-builder')).default;
  const afterPack = require(join(root, 'build', 'after-pack.cjs')).default;
  let deb = null;
  await build({
    projectDir: root,
    targets: Platform.LINUX.createTarget('dir'),
    publish: 'never',
    config: {
      electronDist: stub,
      electronVersion,
      npmRebuild: false,
      directories: { output },
      extraMetadata: { main: 'dist/app/electron/main.js' },
      async afterPack(context) {
        await afterPack(context);
        // electron-builder's internals (no public API for this): what `--linux deb` would check first.
        const FpmTarget = require('app-builder-lib/out/targets/FpmTarget').default;
        const { LinuxTargetHelper } = require('app-builder-lib/out/targets/LinuxTargetHelper');
        deb = await new FpmTarget('deb', context.packager, new LinuxTargetHelper(context.packager), output).checkOptions();
      },
    },
  });
  if (deb === null) failures.push('the deb metadata was not checked (the afterPack hook did not run)');
  else step(`deb metadata: package ${deb.name}, maintainer ${deb.maintainer}, vendor ${deb.vendor}, homepage ${deb.url}`);

  // 4. The asar.
  const unpacked = readdirSync(output).find((d) => d.endsWith('-unpacked'));
  if (!unpacked) throw new Error(`no *-unpacked directory in ${output}`);
  const appDir = join(output, unpacked);
  const asarPath = join(appDir, 'resources', 'app.asar');
  if (!existsSync(asarPath)) throw new Error(`no app.asar at ${asarPath}`);
  const asar = (await import('@electron/asar')).default;
  const entries = asar.listPackage(asarPath, { isPack: false }).map((p) => p.replaceAll('\\', '/'));
  const files = new Set(entries);
  step(`app.asar: ${entries.length} entries`);

  const mustHave = [
    '/package.json',
    '/dist/app/electron/main.js',
    '/dist/app/electron/preload.cjs',
    '/dist/app/src/desktop/agent.js',
    '/renderer/dist/index.html',
    '/renderer/dist/app.js',
    '/renderer/dist/app.css',
    ...TRAY_STATES.flatMap((s) => [`/assets/tray-${s}.png`, `/assets/tray-${s}@2x.png`, `/assets/tray-${s}Template.png`, `/assets/tray-${s}Template@2x.png`]),
  ];
  for (const f of mustHave) if (!files.has(f)) failures.push(`missing ${f}`);

  const pkg = JSON.parse(asar.extractFile(asarPath, 'package.json').toString('utf8'));
  if (pkg.main !== 'dist/app/electron/main.js') failures.push(`package.json main is ${pkg.main}, not dist/app/electron/main.js`);

  const forbidden = [
    [/\/src\/server(\/|$)/, 'server code'],
    [/\/src\/cli(\/|$)/, 'CLI code'],
    [/\.(test|spec)\.[^/]*$/, 'a test'],
    [/\.map$/, 'a source map'],
    [/(?<!\.d)\.[cm]?ts$/, 'a TypeScript source'],
    [new RegExp(`/node_modules/(${[...SERVER_ONLY, ...deps.exclude].map((n) => n.replace(/[.]/g, '\\.')).join('|')})(/|$)`), 'a server-only package'],
    [/\/node_modules\/electron(\/|$)/, 'the electron package'],
  ];
  const found = new Map(); // one line per kind and package (or directory), with a count
  for (const entry of entries) {
    for (const [re, what] of forbidden) {
      if (!re.test(entry)) continue;
      const pkg = /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)/.exec(entry)?.[1] ?? entry;
      const key = `${what}: ${pkg}`;
      found.set(key, (found.get(key) ?? 0) + 1);
    }
  }
  for (const [key, n] of found) failures.push(n > 1 ? `${key} (${n} entries)` : key);

  // Every package the app needs (by package-lock.json) is bundled.
  for (const name of deps.appInstalled) {
    if (!entries.some((e) => e.endsWith(`/node_modules/${name}/package.json`))) failures.push(`needed by the app but not bundled: ${name}`);
  }

  // Every bare import of the compiled shell resolves to a bundled package.
  const imported = new Set();
  const scan = (dir) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, d.name);
      if (d.isDirectory()) scan(p);
      else if (/\.c?js$/.test(d.name)) {
        const code = readFileSync(p, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
        for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)['"]([^'".][^'"]*)['"]/gm)) {
          const spec = m[1];
          if (spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]) || spec === 'electron') continue;
          imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
        }
      }
    }
  };
  scan(join(root, 'dist', 'app'));
  for (const name of imported) {
    if (!files.has(`/node_modules/${name}/package.json`)) failures.push(`imported by the shell but not bundled: ${name}`);
  }
  step(`shell imports: ${[...imported].sort().join(', ') || '(none)'}`);

  const native = entries.filter((e) => e.endsWith('.node'));
  if (native.length > 0) step(`native modules (unpacked): ${native.join(', ')}`);
  step(`output: ${appDir}`);
} catch (err) {
  failures.push(`packaging failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
} finally {
  if (!keep && failures.length === 0) rmSync(work, { recursive: true, force: true });
  else step(`kept ${work}`);
}

if (failures.length > 0) {
  console.error(`package-check: FAILED (${failures.length})`);
  for (const f of failures) console.error(`  - ${f}`);
  process.exit(1);
}
step('OK — main, preload, renderer and tray icons present; no server code, server-only packages, tests, sources or source maps');
