#!/usr/bin/env node
// `npm test`'s test run: vitest, inside a private D-Bus session with an unlocked gnome-keyring when
// there is no session bus yet and both are installed, so the keychain suites use a real Secret
// Service (DESIGN.md "Testing where Electron cannot run") without any set-up by hand. A machine
// that already has a session (a desktop, or .ci/run) runs vitest as it is; one without the tools
// runs it as it is too, and those suites skip with one line saying what is missing.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const vitest = [process.execPath, [join('node_modules', 'vitest', 'vitest.mjs'), 'run', ...args]];
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

let child;
if (!process.env.DBUS_SESSION_BUS_ADDRESS && process.platform === 'linux' && has('dbus-run-session') && has('gnome-keyring-daemon')) {
  // A fresh XDG_DATA_HOME gives gnome-keyring a new login keyring, unlocked with this password.
  const dataHome = mkdtempSync(join(tmpdir(), 'latch-test-keyring-'));
  const script = 'echo -n latch-tests | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@"';
  console.log('npm test: running the tests in a private D-Bus session with gnome-keyring (a real Secret Service)');
  child = spawn('dbus-run-session', ['--', 'sh', '-c', script, 'sh', vitest[0], ...vitest[1]], { stdio: 'inherit', env: { ...process.env, XDG_DATA_HOME: dataHome } });
} else {
  child = spawn(vitest[0], vitest[1], { stdio: 'inherit' });
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
