/** Every DesktopApi call on its channel, through the one guard (src/desktop/ipc-guard.ts), plus the snapshot push. */
import { ipcMain, type WebContents } from 'electron';
import { appSenderPolicy, guardedChannels, type DesktopCallImpl } from '../src/desktop/ipc-guard.js';
import { SNAPSHOT_CHANNEL, type DesktopSubscriptions } from '../src/shared/desktop-api.js';

/** `windows()`: the webContents of the windows we made, the only ones trusted to call and told of snapshots. */
export function registerDesktopApi(api: DesktopCallImpl & DesktopSubscriptions, windows: () => readonly WebContents[]): () => void {
  const channels = guardedChannels(api, appSenderPolicy(() => new Set(windows().map((w) => w.id))));
  for (const { channel, listener } of channels) ipcMain.handle(channel, listener);
  const unsubscribe = api.onSnapshot((snapshot) => {
    for (const w of windows()) if (!w.isDestroyed()) w.send(SNAPSHOT_CHANNEL, snapshot);
  });
  return () => {
    unsubscribe();
    for (const { channel } of channels) ipcMain.removeHandler(channel);
  };
}
