/**
 * `window.latch` (DesktopApi): one task-named function per contract call, nothing else — no
 * ipcRenderer, no generic invoke, no event objects (Electron security checklist §§ 3, 17).
 *
 * CommonJS and self-contained: a sandboxed preload can require only `electron` and a few
 * built-ins, so it imports the contract for its types only. `CALLS` must list every call of the
 * contract (`satisfies` fails the electron typecheck otherwise); the channel names follow
 * `desktopChannel` in src/shared/desktop-api.ts.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a sandboxed preload must be CommonJS (above)
import electron = require('electron');
import type { DesktopApi, DesktopCallName, DesktopSnapshot } from '../src/shared/desktop-api.js' with { 'resolution-mode': 'import' };

const CALLS = {
  getSnapshot: true, enroll: true, signOut: true, requestAccess: true, cancel: true, approve: true, deny: true, endGrant: true,
  extendGrant: true, copyCredential: true, getSettings: true, updateSettings: true, dismissNotice: true, retryKeychain: true,
} as const satisfies Record<DesktopCallName, true>;

const SNAPSHOT_CHANNEL = 'latch:snapshot';
const { contextBridge, ipcRenderer } = electron;

const calls = Object.fromEntries(
  (Object.keys(CALLS) as DesktopCallName[]).map((name) => [name, (...args: unknown[]) => ipcRenderer.invoke(`latch:${name}`, ...args)]),
);

const latch = {
  ...calls,
  onSnapshot(cb: (snapshot: DesktopSnapshot) => void): () => void {
    const listener = (_event: electron.IpcRendererEvent, snapshot: DesktopSnapshot) => cb(snapshot);
    ipcRenderer.on(SNAPSHOT_CHANNEL, listener);
    return () => void ipcRenderer.removeListener(SNAPSHOT_CHANNEL, listener);
  },
} as DesktopApi;

contextBridge.exposeInMainWorld('latch', latch);
