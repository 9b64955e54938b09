/**
 * The lockdown every webContents gets (Electron security checklist §§ 4, 5, 13–15): no navigation,
 * no new windows, no <webview>, permissions refused except notifications for our own origin, and
 * `openExternal` only for https links to allow-listed hosts.
 */
import { app, shell, type Session, type WebContents } from 'electron';
import { isAppUrl } from '../src/desktop/ipc-guard.js';
import { isAllowedExternalUrl } from '../src/desktop/links.js';

/** Opens `url` in the browser if allowed; anything else is dropped. */
export function openExternalSafely(url: string, hosts: () => readonly string[]): void {
  if (isAllowedExternalUrl(url, hosts())) void shell.openExternal(url); // eng-disable OPEN_EXTERNAL_JS_CHECK -- reviewed: https to allow-listed hosts only
}

/** Applied to every webContents the app creates, windows or not. */
export function lockDownContents(contents: WebContents, externalHosts: () => readonly string[]): void {
  contents.on('will-navigate', (event) => event.preventDefault());
  contents.on('will-frame-navigate', (event) => {
    if (!event.isMainFrame || !isAppUrl(event.url)) event.preventDefault();
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    openExternalSafely(url, externalHosts);
    return { action: 'deny' };
  });
}

export function lockDownSession(ses: Session): void {
  ses.setPermissionRequestHandler((_contents, permission, callback, details) => {
    callback(permission === 'notifications' && isAppUrl(details.requestingUrl));
  });
  ses.setPermissionCheckHandler((_contents, permission, requestingOrigin) => permission === 'notifications' && isAppUrl(`${requestingOrigin}/`));
  ses.setDevicePermissionHandler(() => false);
}

/** Every webContents, including any made by code other than ours. */
export function lockDownApp(externalHosts: () => readonly string[]): void {
  app.on('web-contents-created', (_event, contents) => lockDownContents(contents, externalHosts));
}
