/**
 * NotifierSink over Electron's Notification. Buttons only where they are shown (macOS); elsewhere
 * approve, deny and extend happen in the window, and a click opens the intent's place (B33).
 *
 * On Windows a toast that times out moves to the Action Center and Electron emits `close` then;
 * the Notification is kept (until withdrawn, replaced or pushed out by newer ones) so that a later
 * click there can still reach its handler. If the click is lost all the same, the tray's pending
 * count and the window's lists still show the request.
 */
import { Notification } from 'electron';
import type { NotifierSink } from '../src/desktop/deps.js';
import type { AgentTrayAction } from '../src/desktop/tray-model.js';
import type { WindowTarget } from '../src/shared/desktop-api.js';

export function electronNotifier(open: (target: WindowTarget) => void, run: (action: AgentTrayAction) => void): NotifierSink {
  const shown = new Map<string, Notification>();
  const withActions = process.platform === 'darwin';
  const keepAfterClose = process.platform === 'win32';
  /** Action Center holds a limited number per app; keep at most this many alive. */
  const KEEP = 20;
  return {
    show(intent) {
      if (!Notification.isSupported()) return;
      shown.get(intent.key)?.close();
      const n = new Notification({
        title: intent.title,
        body: intent.body,
        actions: withActions ? intent.actions.map((a) => ({ type: 'button' as const, text: a.label })) : [],
      });
      n.on('click', () => open(intent.open));
      n.on('action', (_event, index) => {
        const action = intent.actions[index];
        if (action === undefined) return;
        if ('run' in action) run(action.run);
        else open(action.open);
      });
      n.on('close', () => {
        if (!keepAfterClose && shown.get(intent.key) === n) shown.delete(intent.key);
      });
      shown.delete(intent.key);
      shown.set(intent.key, n);
      // Oldest first (a Map keeps insertion order).
      for (const key of [...shown.keys()].slice(0, Math.max(0, shown.size - KEEP))) shown.delete(key);
      n.show();
    },
    withdraw(key) {
      shown.get(key)?.close();
      shown.delete(key);
    },
  };
}
