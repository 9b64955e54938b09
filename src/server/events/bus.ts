/** In-process fan-out of committed events to open streams. */
import type { StoredEvent } from './log.js';

export type Listener = (e: StoredEvent) => void;

export class EventBus {
  private readonly listeners = new Set<Listener>();

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(events: readonly StoredEvent[]): void {
    for (const e of events) for (const l of this.listeners) l(e);
  }

  get size(): number {
    return this.listeners.size;
  }
}
