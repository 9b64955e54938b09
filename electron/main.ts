/**
 * The composition root of the tray app (DESIGN.md "Desktop agent", "Electron shell"; STYLE.md §4):
 * builds the Electron-backed clock, keychain, settings, notifier, tray and clipboard, hands them to
 * the Agent, and wires Electron's events to it. No logic of its own: that lives in src/desktop.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, nativeTheme, powerMonitor, screen, session, type Rectangle, type WebContents } from 'electron';
import ElectronStore from 'electron-store';
import { Agent } from '../src/desktop/agent.js';
import { APP_ID, PRODUCT_NAME } from '../src/desktop/app-identity.js';
import { applyLinuxAutostart } from '../src/desktop/autostart.js';
import { POPOVER_SIZE, popoverPosition } from '../src/desktop/popover.js';
import type { ClientFactory } from '../src/desktop/deps.js';
import { Keychain, napiKeyringBackend } from '../src/desktop/keychain.js';
import { confLikeBackend, SettingsStore } from '../src/desktop/settings.js';
import { enrollAtStartup, takeStartupEnrollment } from '../src/desktop/startup-enrollment.js';
import type { TrayAction } from '../src/desktop/tray-model.js';
import { WindowQueue } from '../src/desktop/window-queue.js';
import { systemClock } from '../src/shared/clock.js';
import type { WindowTarget } from '../src/shared/desktop-api.js';
import { EventStream, LatchClient } from '../src/sync/index.js';
import { electronClipboard } from './clipboard.js';
import { DEEP_LINK_SCHEME, deepLinkInArgv } from './deep-link.js';
import { registerDesktopApi } from './ipc.js';
import { electronNotifier } from './notifier.js';
import { enforceCsp, registerAppScheme, serveRenderer } from './protocol.js';
import { lockDownApp, lockDownSession } from './security.js';
import { electronTray } from './tray.js';
import { createSecureWindow, windowUrl } from './window.js';

const here = dirname(fileURLToPath(import.meta.url));
const report = (err: unknown, context: string) => console.error(`latch: ${context}:`, err instanceof Error ? err.message : err);

// Before anything reads the app's name or userData folder (the single-instance lock does). On
// Windows a toast shows, labelled "Latch", only for the AUMID of the installer's Start-menu
// shortcut (FIELD-CASES B33); Linux notifications take the app name.
app.setName(PRODUCT_NAME);
if (process.platform === 'win32') app.setAppUserModelId(APP_ID);
// `npm start` (scripts/demo.mjs) runs the app on a settings folder of its own, signed in to the
// demo server with a one-time code handed in the environment (taken out of it here).
if (process.env.LATCH_USER_DATA_DIR) app.setPath('userData', process.env.LATCH_USER_DATA_DIR);
const startupEnrollment = takeStartupEnrollment(process.env);

registerAppScheme();

// Where the window opens once start() has made it possible: links and second launches that come
// earlier wait here.
const windowQueue = new WindowQueue();

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.setAsDefaultProtocolClient(DEEP_LINK_SCHEME); // eng-disable PROTOCOL_HANDLER_JS_CHECK -- reviewed: latch:// links are parsed and validated in deep-link.ts
  // Listened to now, not after `ready`: on a cold start macOS delivers the link the app was
  // launched with before `ready` (and before `will-finish-launching` is over), and it is not sent again.
  app.on('open-url', (event, url) => {
    event.preventDefault();
    windowQueue.link(url);
  });
  // Windows and Linux: a second launch (with its link on the command line) may come while this one is still starting.
  app.on('second-instance', (_event, argv) => {
    const link = deepLinkInArgv(argv);
    if (link) windowQueue.link(link);
    else windowQueue.put({ target: { view: 'home' }, prefill: {} });
  });
  const launchLink = deepLinkInArgv(process.argv);
  if (launchLink) windowQueue.link(launchLink);
  // A tray app: closing the last window does not quit.
  app.on('window-all-closed', () => undefined);
  void app.whenReady().then(start).catch((err: unknown) => {
    report(err, 'starting');
    app.exit(1);
  });
}

async function start(): Promise<void> {
  const root = app.getAppPath();
  const clock = systemClock;
  const settings = SettingsStore.open(
    confLikeBackend(join(app.getPath('userData'), 'config.json'), () => new ElectronStore<Record<string, unknown>>({ configFileMode: 0o600 })),
    { clock },
  );
  // Links open in the browser only on https to the enrolled server's host.
  const externalHosts = (): string[] => {
    const url = settings.get().serverUrl;
    return url?.startsWith('https://') ? [new URL(url).host] : [];
  };
  lockDownApp(externalHosts);
  lockDownSession(session.defaultSession);
  enforceCsp(session.defaultSession);
  serveRenderer(session.defaultSession, join(root, 'renderer', 'dist'));

  let win: BrowserWindow | null = null;
  let popover: BrowserWindow | null = null;
  const open = (): BrowserWindow[] => [win, popover].filter((w): w is BrowserWindow => w !== null && !w.isDestroyed());
  const windows = (): WebContents[] => open().map((w) => w.webContents);
  // The agent pushes a snapshot every second while any window shows (B28).
  const syncVisible = () => agent.setWindowVisible(open().some((w) => w.isVisible() && !w.isMinimized()));
  const followVisibility = (w: BrowserWindow) => {
    w.on('show', syncVisible);
    w.on('hide', syncVisible);
    w.on('restore', syncVisible);
    w.on('minimize', syncVisible);
  };

  const connect: ClientFactory = (baseUrl, credentials) => {
    const client = new LatchClient({ baseUrl, credentials, clock });
    return { client, events: new EventStream({ client, clock, onListenerError: (err) => report(err, 'event listener') }) };
  };
  const agent: Agent = new Agent({
    clock,
    keychain: new Keychain({ backend: napiKeyringBackend(), clock }),
    settings,
    notifier: electronNotifier((target) => showWindow(target), (action) => onTrayAction(action)),
    tray: electronTray(join(root, 'assets'), (action) => onTrayAction(action), (bounds) => togglePopover(bounds)),
    clipboard: electronClipboard(report),
    connect,
    format: { time: (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) },
    onError: report,
  });

  function showWindow(target: WindowTarget, prefill: Record<string, string> = {}): void {
    const created = !win || win.isDestroyed();
    if (!win || win.isDestroyed()) {
      const w = createSecureWindow({ preload: join(here, 'preload.cjs') });
      win = w;
      followVisibility(w);
      w.on('closed', () => {
        win = null;
        syncVisible();
      });
      w.once('ready-to-show', () => w.show());
    }
    // Only the hash differs for an open window: the renderer routes without reloading.
    void win.loadURL(windowUrl(target, prefill));
    if (created) return; // shown at ready-to-show
    // A notification click or tray item must bring the window forward, wherever it is (B33).
    if (win.isMinimized()) win.restore();
    if (!win.isVisible()) win.show();
    win.focus();
  }

  /** The popover by the tray icon (macOS, Windows): shown at the icon, hidden again when it loses focus. */
  function togglePopover(bounds: Rectangle): void {
    if (popover && !popover.isDestroyed() && popover.isVisible()) {
      popover.hide();
      return;
    }
    if (!popover || popover.isDestroyed()) {
      const p = createSecureWindow({ preload: join(here, 'preload.cjs'), popover: true, ...POPOVER_SIZE });
      popover = p;
      followVisibility(p);
      p.on('blur', () => p.hide());
      p.on('closed', () => {
        popover = null;
        syncVisible();
      });
      void p.loadURL(windowUrl({ view: 'home' }));
    }
    const p = popover;
    const at = popoverPosition(bounds, screen.getDisplayMatching(bounds).workArea);
    p.setPosition(at.x, at.y, false);
    if (p.webContents.isLoading()) p.once('ready-to-show', () => (p.show(), p.focus()));
    else {
      p.show();
      p.focus();
    }
  }

  function onTrayAction(action: TrayAction): void {
    switch (action.kind) {
      case 'open_window':
        return showWindow(action.target);
      case 'quit':
        return app.quit();
      default:
        void agent.runTrayAction(action).catch((err: unknown) => report(err, `tray ${action.kind}`));
    }
  }

  const unregister = registerDesktopApi(agent, windows);

  powerMonitor.on('resume', () => agent.resume());
  powerMonitor.on('unlock-screen', () => agent.resume());

  // Start at login: setLoginItemSettings on macOS and Windows; on Linux, where it does nothing, an
  // XDG autostart entry. An unpackaged run (npm start) would register the bare Electron binary, or
  // remove an installed Latch's entry: it leaves login items alone.
  const applyLoginItem = () => {
    if (!app.isPackaged) return;
    const openAtLogin = settings.get().startAtLogin;
    if (process.platform !== 'linux') return app.setLoginItemSettings({ openAtLogin });
    try {
      applyLinuxAutostart(openAtLogin, { env: process.env, execPath: process.execPath });
    } catch (err) {
      report(err, `${openAtLogin ? 'writing' : 'removing'} the autostart entry (start at login)`);
    }
  };
  applyLoginItem();
  // The renderer follows prefers-color-scheme; the theme setting decides what that reports.
  nativeTheme.themeSource = settings.get().theme;
  settings.onChange((next, prev) => {
    if (next.startAtLogin !== prev.startAtLogin) applyLoginItem();
    if (next.theme !== prev.theme) nativeTheme.themeSource = next.theme;
  });

  let stopping = false;
  app.on('before-quit', (event) => {
    if (stopping) return;
    stopping = true;
    event.preventDefault();
    void agent.stop().finally(() => {
      unregister();
      app.quit();
    });
  });

  await agent.start();
  if (startupEnrollment) {
    const outcome = await enrollAtStartup(agent, startupEnrollment);
    if (typeof outcome === 'object') report(outcome.failed, 'signing in with the code from npm start');
    // The demo opens the window on what the requester sees; a signed-out start shows Setup.
    showWindow({ view: 'home' });
  }
  // Last, so a link the app was launched with is where the window ends up.
  windowQueue.ready((to) => showWindow(to.target, to.prefill));
}
