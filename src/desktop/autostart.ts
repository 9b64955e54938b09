/**
 * "Start at login" on Linux: Electron's `app.setLoginItemSettings` does nothing there, so the app
 * writes (or removes) an XDG autostart entry itself — `$XDG_CONFIG_HOME/autostart/latch.desktop`,
 * `~/.config/autostart` when the variable is unset or not absolute (XDG Base Directory spec). GNOME,
 * KDE, Xfce and the other XDG desktops start what they find there at login.
 *
 * The command is the AppImage's own path when the app runs from one (`$APPIMAGE`; `execPath` is
 * then inside a mount that is gone after the app quits), else the executable. Written on every
 * start while the setting is on, so an AppImage moved or updated keeps starting.
 *
 * Escaping (Desktop Entry spec, "The Exec key"): an argument with a reserved character is quoted,
 * with `"`, `` ` ``, `$` and `\` escaped inside the quotes; `%` is doubled (field codes); then the
 * whole value gets the string escapes (`\\`, `\n`…), which readers undo first. So a `\` in a path
 * is written as four backslashes and a `$` as `\\$`. The entry is checked against GLib's own reader
 * (`gio launch`, src/desktop/autostart.test.ts).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { LINUX_EXECUTABLE, PRODUCT_NAME } from './app-identity.js';

export interface AutostartOptions {
  /** `process.env`: XDG_CONFIG_HOME and APPIMAGE are read from it. */
  env: Readonly<Record<string, string | undefined>>;
  /** `process.execPath`. */
  execPath: string;
  /** Default: os.homedir(). */
  home?: string;
}

/** The entry's path. */
export function autostartFile(env: AutostartOptions['env'], home: string = homedir()): string {
  const config = env.XDG_CONFIG_HOME;
  // The spec: a relative path in an XDG variable is invalid and is ignored.
  const base = config !== undefined && isAbsolute(config) ? config : join(home, '.config');
  return join(base, 'autostart', `${LINUX_EXECUTABLE}.desktop`);
}

/** The command the entry starts: the AppImage when there is one, else this executable. */
export function autostartCommand(opts: AutostartOptions): string[] {
  const appImage = opts.env.APPIMAGE;
  return [appImage !== undefined && isAbsolute(appImage) ? appImage : opts.execPath];
}

// Space, tab, newline, ", ', \, >, <, ~, |, &, ;, $, *, ?, #, (, ), ` (and other control characters, to be safe).
const RESERVED = /[\s"'\\><~|&;$*?#()`\x00-\x1f\x7f]/;

/** One argument of an Exec value, before the string escapes. */
function execArgument(arg: string): string {
  const literal = arg.replace(/%/g, '%%');
  if (literal !== '' && !RESERVED.test(literal)) return literal;
  return `"${literal.replace(/["`$\\]/g, (c) => `\\${c}`)}"`;
}

/** The string escapes of a desktop-entry value (applied last, undone first by readers). */
function stringValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r');
}

/** The Exec value that runs `argv` as it is. */
export function execValue(argv: readonly string[]): string {
  return stringValue(argv.map(execArgument).join(' '));
}

export function autostartEntry(argv: readonly string[]): string {
  // GLib (GNOME's autostart) looks the program up before it turns `%%` back into `%`, so it would
  // not find a program whose path holds a `%`: /usr/bin/env runs that one instead.
  const command = argv[0]?.includes('%') ? ['/usr/bin/env', ...argv] : argv;
  return [
    '[Desktop Entry]',
    'Type=Application',
    `Name=${stringValue(PRODUCT_NAME)}`,
    'Comment=Just-in-time access from the tray',
    `Exec=${execValue(command)}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/**
 * Writes the entry when `enabled` (only if it differs, atomically: a temp file renamed over it),
 * removes it otherwise. Returns the entry's path. Throws what the file system said.
 */
export function applyLinuxAutostart(enabled: boolean, opts: AutostartOptions): string {
  const file = autostartFile(opts.env, opts.home);
  if (!enabled) {
    rmSync(file, { force: true });
    return file;
  }
  const content = autostartEntry(autostartCommand(opts));
  if (existsSync(file) && readFileSync(file, 'utf8') === content) return file;
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.tmp-${process.pid}`;
  writeFileSync(temp, content, { mode: 0o644 });
  renameSync(temp, file);
  return file;
}
