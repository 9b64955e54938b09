/** NotifierSink over Electron's Notification. Buttons only where they are shown (macOS); elsewhere a click opens the intent's place (B33). */
import { Notification } from 'electron';
import type { NotifierSink } from '../src/desktop/deps.js';
import type { WindowTarget } from '../src/shared/desktop-api.js';

export function electronNotifier(open: (target: WindowTarget) => void): NotifierSink {
  const shown = new Map<string, Notification>();
  const withActions = process.platform === 'darwin';
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
        if (action) open(action.open);
      });
      n.on('close', () => {
        if (shown.get(intent.key) === n) shown.delete(intent.key);
      });
      shown.set(intent.key, n);
      n.show();
    },
    withdraw(key) {
      shown.get(key)?.close();
      shown.delete(key);
    },
  };
}
