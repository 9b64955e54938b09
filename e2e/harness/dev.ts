/**
 * `npm run dev:browser`: the browser harness with the demo configuration — the approval server,
 * one desktop agent per demo user, and the renderer served to any browser — printing one address
 * per user. `--open` opens them in the system browser. Ctrl-C stops everything.
 *
 * The addresses carry the harness's per-run token in their fragment: they work for this run only,
 * and only from this machine.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, startBrowserHarness } from './harness.js';

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--open');
if (unknown.length > 0) {
  console.error(`dev:browser: unknown argument ${unknown.join(' ')} (usage: npm run dev:browser [-- --open])`);
  process.exit(1);
}

// The server's own logger, warnings and errors only unless asked otherwise (as `npm start`).
process.env.LATCH_LOG_LEVEL ??= 'warn';
const root = repoRoot();
const harness = await startBrowserHarness({
  logger: null,
  onNotification: (user, intent) => console.log(`  [${user}] notification: ${intent.title} — ${intent.body}`),
});

const lines = [`\nLatch browser harness: approval server at ${harness.serverUrl}, renderer at ${harness.origin}`];
lines.push(
  harness.keychainMode === 'secret-service'
    ? 'Secrets go to the Secret Service (entries of this run are deleted on exit).'
    : `Secrets are kept in memory: ${harness.keychainUnavailable}. (README, "Tests and the services they use", shows how to run one.)`,
);
if (!existsSync(join(root, 'renderer', 'dist', 'app.js'))) lines.push('renderer/dist has no app.js: build the renderer (npm run build, or node scripts/build-renderer.mjs) and reload.');
lines.push('Open each user in its own tab or window (the addresses work for this run only):');
for (const user of harness.users) lines.push(`  ${user.padEnd(6)} ${harness.url(user)}`);
lines.push(
  `\nThe approval server's data is in ${harness.dataDir} (deleted on exit). For a terminal of your own, make a sign-in code there:`,
  `  node dist/src/cli/main.js admin --data-dir ${harness.dataDir} user code bob`,
  `  LATCH_HOME=.latch/bob node dist/src/cli/main.js login --server ${harness.serverUrl} --code <the code>`,
  '\nCopied credentials stay in the harness (not your clipboard). Ctrl-C stops everything.\n',
);
process.stdout.write(lines.join('\n') + '\n');

if (args.includes('--open')) {
  const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  for (const user of harness.users) {
    spawn(opener, [harness.url(user)], { stdio: 'ignore', detached: true })
      .on('error', (err) => console.error(`could not open a browser (${opener}: ${err.message}); open the addresses above yourself`))
      .unref();
  }
}

// A second Ctrl-C quits at once. One Ctrl-C can arrive twice, though: the terminal signals the
// whole foreground group, and `npm start` (scripts/demo.mjs) also passes it on; within a second
// it is the same one, and the clean-up (keychain entries, temp data) goes on.
let stoppingAt: number | null = null;
const stop = () => {
  if (stoppingAt !== null) {
    if (Date.now() - stoppingAt > 1_000) process.exit(130);
    return;
  }
  stoppingAt = Date.now();
  console.log('stopping…');
  harness.close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`dev:browser: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
