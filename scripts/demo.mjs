// `npm start` (after `npm run build`): the demo. The approval server on an embedded store with
// examples/demo.yaml, and
//   - with Electron's binary installed: the tray app, signed in as the demo requester (alice);
//   - without it (an offline install, ELECTRON_SKIP_BINARY_DOWNLOAD): one line saying so, and the
//     browser harness instead (`npm run dev:browser -- --open`).
// Either way every demo user's one-time sign-in for the `latch` CLI is printed.
//
// LATCH_ELECTRON=/path/to/electron uses that binary. Flags: --browser uses the browser harness even when Electron is installed; --no-open (browser
// harness) prints the addresses without opening a browser.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--browser' && a !== '--no-open');
if (unknown.length > 0) {
  console.error(`npm start: unknown argument ${unknown.join(' ')} (usage: npm start [-- --browser] [-- --no-open])`);
  process.exit(1);
}

/**
 * Electron's binary, or why there is none. Not `require('electron')`: that module starts a
 * download when the binary is missing, which on an offline machine fails slowly.
 */
function electronBinary() {
  // Another Electron (a system one, or a stand-in in test/start.test.ts).
  if (process.env.LATCH_ELECTRON) return existsSync(process.env.LATCH_ELECTRON) ? { path: process.env.LATCH_ELECTRON } : { missing: `LATCH_ELECTRON=${process.env.LATCH_ELECTRON} does not exist` };
  const pkg = join(root, 'node_modules', 'electron');
  if (!existsSync(join(pkg, 'package.json'))) return { missing: 'the electron package is not installed (npm install)' };
  const pathFile = join(pkg, 'path.txt');
  const dist = process.env.ELECTRON_OVERRIDE_DIST_PATH || join(pkg, 'dist');
  if (!existsSync(pathFile)) return { missing: "Electron's binary was not downloaded (no network to GitHub, or ELECTRON_SKIP_BINARY_DOWNLOAD=1; `node node_modules/electron/install.js` fetches it)" };
  const binary = join(dist, readFileSync(pathFile, 'utf8').trim());
  return existsSync(binary) ? { path: binary } : { missing: `Electron's binary ${binary} is missing (\`node node_modules/electron/install.js\` fetches it)` };
}

const electron = args.includes('--browser') ? { missing: 'asked for the browser harness (--browser)' } : electronBinary();
if (electron.missing) {
  console.log(`Latch: no tray app here: ${electron.missing}. ${args.includes('--no-open') ? 'Starting' : 'Opening'} the browser harness instead.`);
  const harness = spawn(process.execPath, [join(root, 'dist', 'e2e', 'harness', 'dev.js'), ...(args.includes('--no-open') ? [] : ['--open'])], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => harness.kill(signal));
  harness.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
} else {
  await startWithTrayApp(electron.path);
}

async function startWithTrayApp(binary) {
  // `npm run build` compiled the shell to dist/app (package.json `main`).
  if (!existsSync(join(root, 'dist', 'app', 'electron', 'main.js'))) {
    console.error('npm start: dist/app/electron/main.js is missing: run `npm run build` first (npm start does)');
    process.exit(1);
  }
  const { serve } = await import('../dist/src/cli/serve.js');
  const { newCodeFor } = await import('../dist/src/server/auth/identity.js');
  const dataDir = process.env.LATCH_DATA_DIR || join(root, '.latch', 'demo');
  const appDir = join(root, '.latch', 'demo-app');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(appDir, { recursive: true });
  // Keep the terminal readable: warnings and errors only, unless asked otherwise.
  process.env.LATCH_LOG_LEVEL ??= 'warn';
  const port = process.env.PORT || '7300';
  const requester = 'alice';

  await serve({ host: '127.0.0.1', port, dataDir, config: join(root, 'examples', 'demo.yaml') }, async (url, server) => {
    const users = [...new Set(Object.values(server.config.current.groups).flatMap((g) => g.members))].sort();
    const bin = 'node dist/src/cli/main.js';
    const lines = [`\nLatch demo server at ${url} (data in ${dataDir}); the tray app is starting, signed in as ${requester}.`];
    lines.push('The other demo users can sign in with the CLI (each code works once; restart for new ones):');
    for (const user of users.filter((u) => u !== requester)) {
      const { code } = await newCodeFor(server.store, user, Date.now());
      lines.push(`  ${user.padEnd(6)} LATCH_HOME=.latch/${user} ${bin} login --server ${url} --code ${code}`);
    }
    lines.push(
      `\nRequest demo-pass from the tray, then approve it as bob:`,
      `  LATCH_HOME=.latch/bob ${bin} requests --review`,
      `  LATCH_HOME=.latch/bob ${bin} approve <request id>`,
      '\nQuit the tray app (or Ctrl-C here) to stop.\n',
    );
    process.stdout.write(lines.join('\n') + '\n');

    // The code goes to the app in its environment, never on its command line (visible in `ps`).
    const { code } = await newCodeFor(server.store, requester, Date.now());
    const app = spawn(binary, [root], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, LATCH_USER_DATA_DIR: appDir, LATCH_ENROLL_SERVER: url, LATCH_ENROLL_CODE: code },
    });
    app.on('error', (err) => {
      console.error(`npm start: could not start Electron (${err.message}); \`npm start -- --browser\` uses the browser harness`);
      process.kill(process.pid, 'SIGTERM');
    });
    // Quitting the tray app stops the demo server (gracefully, through serve's own SIGTERM handler).
    app.on('exit', () => process.kill(process.pid, 'SIGTERM'));
    process.on('SIGINT', () => app.kill('SIGTERM'));
  });
}
