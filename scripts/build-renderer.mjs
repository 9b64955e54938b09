#!/usr/bin/env node
/**
 * Builds the renderer (renderer/src, React + zustand) into renderer/dist: index.html, app.js and
 * app.css — what the app serves on app://latch/ and the browser harness serves to Chromium.
 * Bundled and minified by esbuild for Chromium 120+ (Electron's), production React, no source maps
 * (the packaged app must not carry any; scripts/package-check.mjs checks). The page obeys the
 * app:// CSP: one external script and one stylesheet from the same origin, nothing inline.
 *
 * Usage: node scripts/build-renderer.mjs          production build
 *        node scripts/build-renderer.mjs --dev    not minified, development React, inline source map
 * Prints each output file's size and its gzip size.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dev = process.argv.includes('--dev');
const src = join(root, 'renderer');
const out = join(src, 'dist');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: { app: join(src, 'src', 'main.tsx') },
  outdir: out,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'chrome120',
  jsx: 'automatic',
  tsconfig: join(src, 'tsconfig.json'),
  minify: !dev,
  sourcemap: dev ? 'inline' : false,
  define: { 'process.env.NODE_ENV': JSON.stringify(dev ? 'development' : 'production') },
  legalComments: dev ? 'inline' : 'eof',
  metafile: true,
  logLevel: 'warning',
});
copyFileSync(join(src, 'index.html'), join(out, 'index.html'));

const files = ['index.html', 'app.js', 'app.css'];
for (const f of files) {
  const bytes = readFileSync(join(out, f));
  console.log(`build-renderer: ${relative(root, join(out, f))}  ${kb(bytes.length)}  (gzip ${kb(gzipSync(bytes).length)})`);
}
const unexpected = Object.keys(result.metafile.outputs).map((p) => relative(out, join(root, p))).filter((p) => !files.includes(p));
if (unexpected.length > 0) {
  console.error(`build-renderer: unexpected output ${unexpected.join(', ')}`);
  process.exit(1);
}

function kb(n) {
  return `${(n / 1024).toFixed(1)} KiB`;
}
