// "Start at login" on Linux: the XDG autostart entry, written to a temp config folder, and read by
// GLib's own `gio launch` — what GNOME's session manager uses to start it — so the escaping is
// checked by the reader that matters, not by a copy of the spec.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../server/test-support/services.js';
import { applyLinuxAutostart, autostartCommand, autostartEntry, autostartFile, execValue } from './autostart.js';

const dir = mkdtempSync(join(tmpdir(), 'latch-autostart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `case-${++n}`);

const gioMissing = spawnSync('gio', ['help'], { stdio: 'ignore' }).error ? 'gio (libglib2.0-bin)' : null;
const gio = serviceAvailable('the autostart entry read by gio', gioMissing);

/** The Exec value read back as the spec says: string escapes first, then quoting, then `%%`. */
function readExec(value: string): string[] {
  const unescaped = value.replace(/\\([sntr\\])/g, (_m, c: string) => ({ s: ' ', n: '\n', t: '\t', r: '\r', '\\': '\\' })[c]!);
  const args: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < unescaped.length; i++) {
    const c = unescaped[i]!;
    if (c === ' ') {
      if (cur !== null) args.push(cur);
      cur = null;
    } else if (c === '"') {
      cur ??= '';
      for (i++; unescaped[i] !== '"'; i++) {
        if (i >= unescaped.length) throw new Error(`unterminated quote in ${value}`);
        if (unescaped[i] === '\\' && /["`$\\]/.test(unescaped[i + 1] ?? '')) i++;
        cur += unescaped[i];
      }
    } else {
      if (/["`$\\'><~|&;*?#()\t\n]/.test(c)) throw new Error(`unquoted reserved character ${JSON.stringify(c)} in ${value}`);
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) args.push(cur);
  return args.map((a) => a.replace(/%%/g, '%'));
}

describe('where the entry goes', () => {
  it('$XDG_CONFIG_HOME/autostart/latch.desktop, else ~/.config; a relative XDG_CONFIG_HOME is ignored (XDG spec)', () => {
    expect(autostartFile({ XDG_CONFIG_HOME: '/home/al/.cfg' }, '/home/al')).toBe('/home/al/.cfg/autostart/latch.desktop');
    expect(autostartFile({}, '/home/al')).toBe('/home/al/.config/autostart/latch.desktop');
    expect(autostartFile({ XDG_CONFIG_HOME: 'cfg' }, '/home/al')).toBe('/home/al/.config/autostart/latch.desktop');
  });

  it('starts the AppImage itself when run from one (execPath is inside its temporary mount)', () => {
    const execPath = '/tmp/.mount_LatchXy12/latch';
    expect(autostartCommand({ env: { APPIMAGE: '/home/al/Apps/Latch-0.1.0.AppImage' }, execPath })).toEqual(['/home/al/Apps/Latch-0.1.0.AppImage']);
    expect(autostartCommand({ env: {}, execPath: '/opt/Latch/latch' })).toEqual(['/opt/Latch/latch']);
  });
});

describe('the entry', () => {
  it('is an autostarted application running the command', () => {
    expect(autostartEntry(['/opt/Latch/latch'])).toBe([
      '[Desktop Entry]', 'Type=Application', 'Name=Latch', 'Comment=Just-in-time access from the tray',
      'Exec=/opt/Latch/latch', 'Terminal=false', 'X-GNOME-Autostart-enabled=true', '',
    ].join('\n'));
  });

  it('runs a program whose path holds a % through env (GLib looks the program up before undoing %%)', () => {
    expect(autostartEntry(['/home/al/100%/Latch.AppImage'])).toContain('\nExec=/usr/bin/env /home/al/100%%/Latch.AppImage\n');
  });

  it.each([
    [['/home/al/My Apps/Latch.AppImage'], '"/home/al/My Apps/Latch.AppImage"'],
    [['/home/al/100%/latch'], '/home/al/100%%/latch'],
    [['/home/al/$HOME/latch'], '"/home/al/\\\\$HOME/latch"'],
    [['/home/al/back\\slash/latch'], '"/home/al/back\\\\\\\\slash/latch"'],
    [['/home/al/say "hi"/latch'], '"/home/al/say \\\\"hi\\\\"/latch"'],
    [['/opt/Latch/latch', ''], '/opt/Latch/latch ""'],
  ])('escapes %j as the Desktop Entry spec says: %s', (argv, exec) => {
    expect(execValue(argv)).toBe(exec);
    expect(readExec(exec)).toEqual(argv);
  });

  it('reads back as the same command, whatever the path holds', () => {
    const char = fc.constantFrom(...'a/ .-_%$\\"\'`~|&;*?#()<>=\t\nλ€'.split(''));
    const arg = fc.array(char, { maxLength: 12 }).map((cs) => cs.join(''));
    fc.assert(fc.property(fc.array(arg, { minLength: 1, maxLength: 4 }), (argv) => {
      const exec = execValue(argv);
      expect(exec).not.toMatch(/[\n\t]/);
      expect(readExec(exec)).toEqual(argv);
    }));
  });
});

describe('turning it on and off', () => {
  it('writes the entry (making the folders), rewrites it when the AppImage moved, removes it when turned off', () => {
    const config = fresh();
    const env = { XDG_CONFIG_HOME: config, APPIMAGE: '/home/al/Apps/Latch-0.1.0.AppImage' };
    const file = applyLinuxAutostart(true, { env, execPath: '/tmp/.mount_x/latch' });
    expect(file).toBe(join(config, 'autostart', 'latch.desktop'));
    expect(readFileSync(file, 'utf8')).toContain('Exec=/home/al/Apps/Latch-0.1.0.AppImage\n');
    expect(readFileSync(file, 'utf8')).toContain('X-GNOME-Autostart-enabled=true\n');

    applyLinuxAutostart(true, { env: { ...env, APPIMAGE: '/home/al/Latch 0.2.AppImage' }, execPath: '/tmp/.mount_y/latch' });
    expect(readFileSync(file, 'utf8')).toContain('Exec="/home/al/Latch 0.2.AppImage"\n');

    applyLinuxAutostart(false, { env, execPath: '/tmp/.mount_y/latch' });
    expect(existsSync(file)).toBe(false);
    // Off when it already is: nothing to do, no error.
    expect(() => applyLinuxAutostart(false, { env, execPath: '/tmp/.mount_y/latch' })).not.toThrow();
  });

  it('says what went wrong when the folder cannot be written', () => {
    const config = fresh();
    writeFileSync(config, 'a file where the config folder should be');
    expect(() => applyLinuxAutostart(true, { env: { XDG_CONFIG_HOME: config }, execPath: '/opt/Latch/latch' })).toThrow(/ENOTDIR|EEXIST/);
  });
});

describe.runIf(gio)('the entry as GLib reads it (gio launch)', () => {
  it('runs the AppImage at an awkward path', async () => {
    const folder = join(fresh(), `it's "my" $HOME & 100% \\ (apps)`);
    mkdirSync(folder, { recursive: true });
    const appImage = join(folder, 'Latch 0.1.0.AppImage');
    writeFileSync(appImage, '#!/bin/sh\nprintf \'%s\\n\' "$0" "$@" > "$LATCH_AUTOSTART_OUT"\n');
    chmodSync(appImage, 0o755);
    const config = fresh();
    const out = join(dir, `argv-${n}`);
    const file = applyLinuxAutostart(true, { env: { XDG_CONFIG_HOME: config, APPIMAGE: appImage }, execPath: '/tmp/.mount_z/latch' });

    const launched = spawnSync('gio', ['launch', file], { env: { ...process.env, LATCH_AUTOSTART_OUT: out }, encoding: 'utf8' });
    expect(launched.stderr).toBe('');
    expect(launched.status).toBe(0);
    // gio starts the command and returns; wait for it to have written.
    for (let i = 0; i < 100 && !existsSync(out); i++) await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(out, 'utf8')).toBe(`${appImage}\n`);
  });
});
