/** Notifier, tray and clipboard sinks that record what the agent asked of them, stamped with the test's time. */
import type { Clock } from '../../shared/clock.js';
import type { ClipboardSink, NotifierSink, TraySink } from '../deps.js';
import type { IntentKind, NotificationIntent } from '../intents.js';
import type { TrayMenuItem, TrayModel } from '../tray-model.js';

export type NotifierRecord = { type: 'show'; intent: NotificationIntent; at: number } | { type: 'withdraw'; key: string; at: number };

export class RecordingNotifier implements NotifierSink {
  readonly log: NotifierRecord[] = [];
  constructor(private readonly clock: Clock) {}

  show(intent: NotificationIntent): void {
    this.log.push({ type: 'show', intent, at: this.clock.now() });
  }

  withdraw(key: string): void {
    this.log.push({ type: 'withdraw', key, at: this.clock.now() });
  }

  /** The intents shown, of one kind or all, with when. */
  shown(kind?: IntentKind): { intent: NotificationIntent; at: number }[] {
    return this.log.flatMap((r) => (r.type === 'show' && (kind === undefined || r.intent.kind === kind) ? [{ intent: r.intent, at: r.at }] : []));
  }

  withdrawn(key: string): boolean {
    return this.log.some((r) => r.type === 'withdraw' && r.key === key);
  }
}

export class RecordingTray implements TraySink {
  readonly renders: { model: TrayModel; at: number }[] = [];
  constructor(private readonly clock: Clock) {}

  render(model: TrayModel): void {
    this.renders.push({ model, at: this.clock.now() });
  }

  get last(): TrayModel {
    const r = this.renders.at(-1);
    if (!r) throw new Error('the tray was never rendered');
    return r.model;
  }

  /** Every item of the last model, submenus flattened. */
  items(): TrayMenuItem[] {
    return flatten(this.last.menu);
  }

  labels(): string[] {
    return this.items().flatMap((i) => (i.type === 'separator' ? [] : [i.label]));
  }
}

export function flatten(items: TrayMenuItem[]): TrayMenuItem[] {
  return items.flatMap((i) => (i.type === 'submenu' ? [i, ...flatten(i.items)] : [i]));
}

export class RecordingClipboard implements ClipboardSink {
  text: string | null = null;
  readonly writes: { text: string; at: number }[] = [];
  readonly clears: number[] = [];
  constructor(private readonly clock: Clock) {}

  write(text: string): void {
    this.text = text;
    this.writes.push({ text, at: this.clock.now() });
  }

  clear(): void {
    this.text = null;
    this.clears.push(this.clock.now());
  }
}
