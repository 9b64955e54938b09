/**
 * The composition root of the tray app (DESIGN.md "Desktop agent", "Electron shell"; STYLE.md §4):
 * builds the Electron-backed clock, keychain, settings, notifier, tray and clipboard, hands them to
 * the Agent, and wires Electron's events to it. No logic of its own: that lives in src/desktop.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, powerMonitor, session, type WebContents } from 'electron';
import ElectronStore from 'electron-store';
import { Agent } from '../src/desktop/agent.js';
import { APP_ID, PRODUCT_NAME } from '../src/desktop/app-identity.js';
import type { ClientFactory } from '../src/desktop/deps.js';
import { Keychain, napiKeyringBackend } from '../src/desktop/keychain.js';
import { confLikeBackend, SettingsStore } from '../src/desktop/settings.js';
import type { TrayAction } from '../src/desktop/tray-model.js';
import { systemClock } from '../src/shared/clock.js';
import type { WindowTarget } from '../src/shared/desktop-api.js';
import { EventStream, LatchClient } from '../src/sync/index.js';
import { electronClipboard } from './clipboard.js';
import { DEEP_LINK_SCHEME, deepLinkInArgv, parseDeepLink } from './deep-link.js';
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

registerAppScheme();

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.setAsDefaultProtocolClient(DEEP_LINK_SCHEME); // eng-disable PROTOCOL_HANDLER_JS_CHECK -- reviewed: latch:// links are parsed and validated in deep-link.ts
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
  const windows = (): WebContents[] => (win && !win.isDestroyed() ? [win.webContents] : []);

  const connect: ClientFactory = (baseUrl, credentials) => {
    const client = new LatchClient({ baseUrl, credentials, clock });
    return { client, events: new EventStream({ client, clock, onListenerError: (err) => report(err, 'event listener') }) };
  };
  const agent: Agent = new Agent({
    clock,
    keychain: new Keychain({ backend: napiKeyringBackend(), clock }),
    settings,
    notifier: electronNotifier((target) => showWindow(target), (action) => onTrayAction(action)),
    tray: electronTray(join(root, 'assets'), (action) => onTrayAction(action)),
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
      const visible = (v: boolean) => () => agent.setWindowVisible(v);
      w.on('show', visible(true));
      w.on('restore', visible(true));
      w.on('hide', visible(false));
      w.on('minimize', visible(false));
      w.on('closed', () => {
        agent.setWindowVisible(false);
        win = null;
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

  function openDeepLink(link: string | null): void {
    const parsed = link === null ? null : parseDeepLink(link);
    if (parsed) showWindow(parsed.target, parsed.prefill);
  }

  const unregister = registerDesktopApi(agent, windows);

  app.on('second-instance', (_event, argv) => {
    const link = deepLinkInArgv(argv);
    if (link) openDeepLink(link);
    else showWindow({ view: 'home' });
  });
  app.on('open-url', (event, url) => {
    event.preventDefault();
    openDeepLink(url);
  });
  powerMonitor.on('resume', () => agent.resume());
  powerMonitor.on('unlock-screen', () => agent.resume());

  const applyLoginItem = () => app.setLoginItemSettings({ openAtLogin: settings.get().startAtLogin });
  applyLoginItem();
  settings.onChange((next, prev) => {
    if (next.startAtLogin !== prev.startAtLogin) applyLoginItem();
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
  openDeepLink(deepLinkInArgv(process.argv));
}
