/**
 * Renderer benchmark (not a test): the figures of issue 5, each beside a baseline from the same run.
 *
 *   (a) the window's JavaScript and CSS, raw and gzip; baseline: a bundle of React + ReactDOM
 *       rendering one paragraph, built with the same esbuild options (what any React window costs);
 *   (b) time to first paint of the tray popover (380×560) in Debian's Chromium, over fresh browser
 *       contexts: first contentful paint, and the first frame that shows the countdown (data from the
 *       real agent over the bridge); baseline: first contentful paint of the same page with no
 *       script (the static skeleton and the stylesheet only);
 *   (c) CPU while a countdown is visible versus hidden: the page's main-thread busy time (Chromium's
 *       TaskDuration) and this process's CPU (the agent pushing snapshots, the bridge, the idle
 *       server), over 30 s each; baseline: an about:blank page over the same time.
 *
 * Everything real: the approval server, the desktop agent of alice, the browser harness's
 * WebSocket bridge, Chromium at /usr/bin/chromium. Only 127.0.0.1. Run: `npm run bench:renderer`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { POPOVER_SIZE } from '../src/desktop/popover.js';
import type { ActionResult, DesktopApi } from '../src/shared/desktop-api.js';
import type { RequestView } from '../src/shared/api.js';
import { chromiumMissing, launchChromium, openUserPage, repoRoot, setPageVisibility, startBrowserHarness } from '../e2e/harness/index.js';

const PAINT_RUNS = 30;
const CPU_WINDOW_MS = 30_000;
const root = repoRoot();
const dist = join(root, 'renderer', 'dist');
type Win = { latch: DesktopApi };

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};
const ms = (n: number) => `${n.toFixed(1)} ms`;

async function sizes() {
  const app = readFileSync(join(dist, 'app.js'));
  const css = readFileSync(join(dist, 'app.css'));
  const dir = mkdtempSync(join(tmpdir(), 'latch-bench-react-'));
  try {
    const entry = join(dir, 'entry.jsx');
    writeFileSync(entry, `import { createRoot } from 'react-dom/client';\ncreateRoot(document.getElementById('root')).render(<p>hello</p>);\n`);
    // The options of scripts/build-renderer.mjs.
    await build({
      absWorkingDir: root, entryPoints: [entry], outfile: join(dir, 'out.js'), bundle: true, format: 'iife', platform: 'browser', target: 'chrome120',
      jsx: 'automatic', minify: true, define: { 'process.env.NODE_ENV': '"production"' }, legalComments: 'eof', logLevel: 'warning', nodePaths: [join(root, 'node_modules')],
    });
    const base = readFileSync(join(dir, 'out.js'));
    return { app: { raw: app.length, gzip: gzipSync(app).length }, css: { raw: css.length, gzip: gzipSync(css).length }, base: { raw: base.length, gzip: gzipSync(base).length } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The page without its script: renderer/dist/index.html's skeleton and app.css, from a server of its own. */
async function staticSkeleton(): Promise<{ url: string; close(): Promise<void> }> {
  const html = readFileSync(join(dist, 'index.html'), 'utf8').replace(/<script[^>]*><\/script>/g, '');
  const css = readFileSync(join(dist, 'app.css'));
  const server = http.createServer((req, res) => {
    if (req.url === '/app.css') res.writeHead(200, { 'content-type': 'text/css' }).end(css);
    else res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/index.html`, close: () => new Promise((r) => server.close(() => r())) };
}

const fcp = (page: Page) =>
  page.waitForFunction(() => (globalThis as any).performance.getEntriesByName('first-contentful-paint')[0]?.startTime as number | undefined, undefined, { polling: 50 }).then((h) => h.jsonValue() as Promise<number>);

async function paints(browser: Browser, harness: Awaited<ReturnType<typeof startBrowserHarness>>) {
  const skeleton = await staticSkeleton();
  const real = { fcp: [] as number[], data: [] as number[] };
  const base: number[] = [];
  try {
    for (let i = 0; i < PAINT_RUNS + 2; i++) {
      const warm = i < 2; // the first contexts pay for Chromium's own start-up
      const ctx = await browser.newContext({ viewport: { ...POPOVER_SIZE } });
      const page = await ctx.newPage();
      await page.goto(harness.url('alice'));
      // The first animation frame in which the countdown is on screen, in the page's own clock.
      const data = await page
        .waitForFunction(() => ((globalThis as any).document.querySelector('[role="timer"]') ? (globalThis as any).performance.now() : null), undefined, { polling: 'raf', timeout: 15_000 })
        .then((h) => h.jsonValue() as Promise<number>);
      const first = await fcp(page);
      await ctx.close();
      const bctx = await browser.newContext({ viewport: { ...POPOVER_SIZE } });
      const bpage = await bctx.newPage();
      await bpage.goto(skeleton.url);
      const b = await fcp(bpage);
      await bctx.close();
      if (warm) continue;
      real.fcp.push(first);
      real.data.push(data);
      base.push(b);
    }
  } finally {
    await skeleton.close();
  }
  return { real, base };
}

async function busy(page: Page, during: () => Promise<void>) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const read = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration')!.value;
  const t0 = await read();
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  await during();
  const wall = performance.now() - w0;
  const cpu = process.cpuUsage(cpu0);
  const task = (await read()) - t0;
  await cdp.detach();
  return { pageMsPerS: (task * 1000) / (wall / 1000), nodeMsPerS: (cpu.user + cpu.system) / 1000 / (wall / 1000) };
}

async function main() {
  const missing = chromiumMissing();
  if (missing) throw new Error(`needs ${missing}`);
  console.log(`renderer bench — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${loadavg()[0]!.toFixed(2)} before the run`);

  const s = await sizes();
  console.log('\n(a) the window\'s code');
  console.log(`  renderer/dist/app.js   ${kib(s.app.raw)}  gzip ${kib(s.app.gzip)}`);
  console.log(`  renderer/dist/app.css  ${kib(s.css.raw)}  gzip ${kib(s.css.gzip)}`);
  console.log(`  baseline: React + ReactDOM, one <p>  ${kib(s.base.raw)}  gzip ${kib(s.base.gzip)}`);
  console.log(`  ratio app.js / baseline (gzip)  ${(s.app.gzip / s.base.gzip).toFixed(2)}   — Latch's own code adds ${kib(s.app.gzip - s.base.gzip)} gzip`);

  const harness = await startBrowserHarness({ users: ['alice', 'bob'], keychain: 'memory' });
  const browser = await launchChromium();
  try {
    // alice holds an active grant: the popover opens on its countdown.
    const setup = await openUserPage(browser, harness, 'alice');
    const bob = await openUserPage(browser, harness, 'bob');
    const req = (await setup.evaluate(() => (globalThis as unknown as Win).latch.requestAccess({ resource: 'demo-pass', role: 'read', duration: '1h', reason: 'BENCH-5 renderer figures' }))) as ActionResult<RequestView>;
    if (!req.ok) throw new Error(req.error.message);
    await bob.evaluate((id) => (globalThis as unknown as Win).latch.approve(id), req.value.id);
    await harness.waitFor('alice', 'an active grant', (x) => x.grants.some((g) => g.state === 'active'));
    await Promise.all([setup.context().close(), bob.context().close()]);

    const p = await paints(browser, harness);
    console.log(`\n(b) the popover (${POPOVER_SIZE.width}×${POPOVER_SIZE.height}) from navigation, n = ${PAINT_RUNS} fresh contexts`);
    console.log(`  first contentful paint               p50 ${ms(quantile(p.real.fcp, 0.5))}  p95 ${ms(quantile(p.real.fcp, 0.95))}`);
    console.log(`  first frame with the countdown       p50 ${ms(quantile(p.real.data, 0.5))}  p95 ${ms(quantile(p.real.data, 0.95))}`);
    console.log(`  baseline: the page with no script    p50 ${ms(quantile(p.base, 0.5))}  p95 ${ms(quantile(p.base, 0.95))}`);
    console.log(`  ratio first paint / baseline (p50)   ${(quantile(p.real.fcp, 0.5) / quantile(p.base, 0.5)).toFixed(2)}`);
    console.log(`  ratio countdown on screen / baseline ${(quantile(p.real.data, 0.5) / quantile(p.base, 0.5)).toFixed(2)}`);

    const page = await openUserPage(browser, harness, 'alice', { viewport: { ...POPOVER_SIZE } });
    await page.locator('[role="timer"]').first().waitFor();
    const visible = await busy(page, () => page.waitForTimeout(CPU_WINDOW_MS));
    await setPageVisibility(page, 'hidden');
    await page.waitForTimeout(1_000);
    const hidden = await busy(page, () => page.waitForTimeout(CPU_WINDOW_MS));
    await page.context().close();
    const blankCtx = await browser.newContext();
    const blank = await blankCtx.newPage();
    await blank.goto('about:blank');
    const idle = await busy(blank, () => blank.waitForTimeout(CPU_WINDOW_MS));
    await blankCtx.close();
    const line = (what: string, x: { pageMsPerS: number; nodeMsPerS: number }) =>
      `  ${what.padEnd(34)} page ${x.pageMsPerS.toFixed(2).padStart(6)} ms/s (${(x.pageMsPerS / 10).toFixed(2)}% of a core)   agent process ${x.nodeMsPerS.toFixed(2).padStart(6)} ms/s`;
    console.log(`\n(c) CPU, ${CPU_WINDOW_MS / 1000} s each`);
    console.log(line('countdown visible (ticks 1/s)', visible));
    console.log(line('countdown hidden', hidden));
    console.log(line('baseline: about:blank', idle));
    console.log(`  ratio visible / hidden (page)      ${(visible.pageMsPerS / Math.max(hidden.pageMsPerS, 0.001)).toFixed(1)}`);
    console.log(`  ratio hidden / about:blank (page)  ${(hidden.pageMsPerS / Math.max(idle.pageMsPerS, 0.001)).toFixed(2)}`);
  } finally {
    await browser.close();
    await harness.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`renderer bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
