/** The one window factory (DESIGN.md "Electron shell"): every window Latch opens is made here. */
import { app, BrowserWindow } from 'electron';
import type { WindowTarget } from '../src/shared/desktop-api.js';
import { APP_ORIGIN } from '../src/desktop/ipc-guard.js';

export interface SecureWindowOptions {
  preload: string;
  title?: string;
  width?: number;
  height?: number;
  /** The small window by the tray: no frame, not in the taskbar, above other windows. */
  popover?: boolean;
}

export function createSecureWindow(opts: SecureWindowOptions): BrowserWindow {
  return new BrowserWindow({
    title: opts.title ?? 'Latch',
    width: opts.width ?? 960,
    height: opts.height ?? 720,
    show: false,
    ...(opts.popover ? { frame: false, resizable: false, movable: false, minimizable: false, maximizable: false, fullscreenable: false, skipTaskbar: true, alwaysOnTop: true } : {}),
    webPreferences: {
      preload: opts.preload, // eng-disable PRELOAD_JS_CHECK -- reviewed: exposes only the task-named DesktopApi calls (preload.cts)
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      // Middle-click would open links in new windows (Electron security checklist §14).
      disableBlinkFeatures: 'Auxclick',
      devTools: !app.isPackaged,
    },
  });
}

/** The UI's address for a place in it; the renderer routes on the hash. */
export function windowUrl(target: WindowTarget, query: Record<string, string> = {}): string {
  const { view, ...params } = target as { view: string } & Record<string, string | boolean | undefined>;
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...params, ...query })) if (v !== undefined) search.set(k, String(v));
  const qs = search.toString();
  return `${APP_ORIGIN}/index.html#/${view}${qs === '' ? '' : `?${qs}`}`;
}
