/**
 * ClipboardSink over Electron's clipboard (asynchronous since Electron 45). `clear` leaves alone
 * what the person copied since; writes and clears run in order.
 */
import { clipboard } from 'electron';
import type { ClipboardSink } from '../src/desktop/deps.js';

export function electronClipboard(onError: (err: unknown, context: string) => void): ClipboardSink {
  let written: string | null = null;
  let queue: Promise<void> = Promise.resolve();
  const then = (step: () => Promise<void>, context: string) => {
    queue = queue.then(step).catch((err: unknown) => onError(err, context));
  };
  return {
    write(text) {
      then(async () => {
        await clipboard.writeText(text);
        written = text;
      }, 'writing the clipboard');
    },
    clear() {
      then(async () => {
        if (written !== null && (await clipboard.readText()) === written) clipboard.clear();
        written = null;
      }, 'clearing the clipboard');
    },
  };
}
