/**
 * The status line that is always visible: the connection to the server (live, reconnecting,
 * offline since…) and, while the data may be out of date, the time it is from.
 */
import type { DesktopSnapshot } from '../../../src/shared/desktop-api.js';
import { assertNever } from '../../../src/shared/states.js';
import type { WallClock } from './time.js';

export type ConnectionTone = 'live' | 'reconnecting' | 'offline' | 'signed_out';

export interface ConnectionLine {
  tone: ConnectionTone;
  /** `Live`, `Reconnecting…`, `Offline since 10:42` */
  label: string;
  /** Why it is not live, for a tooltip and screen readers; null when live. */
  detail: string | null;
  /** `Showing data as of 10:41:05` while stale. */
  asOf: string | null;
}

export function connectionLine(s: Pick<DesktopSnapshot, 'phase' | 'connection' | 'stale' | 'now'>, clock: WallClock): ConnectionLine {
  // `since` and `stale.since` are the agent's local clock, like `now`.
  const asOf = s.stale ? `Showing data as of ${clock.time(Date.parse(s.stale.since))}` : null;
  if (s.phase === 'signed_out') return { tone: 'signed_out', label: 'Not signed in', detail: null, asOf: null };
  const since = Date.parse(s.connection.since);
  switch (s.connection.state) {
    case 'live':
      return { tone: 'live', label: 'Live', detail: null, asOf };
    case 'reconnecting':
      return { tone: 'reconnecting', label: 'Reconnecting…', detail: s.connection.detail, asOf };
    case 'offline':
      return { tone: 'offline', label: `Offline since ${clock.when(since, s.now)}`, detail: s.connection.detail, asOf };
    default:
      return assertNever(s.connection.state, 'connection state');
  }
}
