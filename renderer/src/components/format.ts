/** The person's wall clock and a few labels the views share. */
import { formatDuration } from '../../../src/shared/duration.js';
import { durationLabel } from '../logic/presets.js';
import { wallClock } from '../logic/time.js';

export const clock = wallClock();

/** Local wall time of a server ISO time, as the snapshot sees it. */
export function whenLocal(serverIso: string | null, s: { now: number; serverOffsetMs: number }): string {
  if (serverIso === null) return '—';
  return clock.when(Date.parse(serverIso) - s.serverOffsetMs, s.now);
}

export { durationLabel, formatDuration };
